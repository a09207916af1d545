"""Atomic writes: an interrupted write never leaves a half-written file or folder behind.

Temporary files and folders are created private (0600 / 0700); what is renamed into place
gets the permissions the user's umask gives a new file or folder."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from mmcl.errors import UserError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_folder(out: str | Path) -> Iterator[Path]:
    """Yield an empty temporary folder beside `out`; on success it replaces `out`
    (the old one is removed only after the rename), on failure it is deleted. A lock file
    beside `out` refuses a second writer of the same folder while this one works."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(out.with_name(f".{out.name}.lock"), out):
        yield from _replace_folder(out)


def _replace_folder(out: Path) -> Iterator[Path]:
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        yield tmp
        old = out.with_name(f".{out.name}.old")
        if out.exists():
            shutil.rmtree(old, ignore_errors=True)
            out.rename(old)
        tmp.chmod(0o777 & ~_umask())
        tmp.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextmanager
def atomic_file(path: str | Path, mode: str = "w") -> Iterator[IO]:
    """Open a temporary file beside `path` for writing; it replaces `path` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


LOCK = ".mmcl.lock"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


@contextmanager
def folder_lock(folder: str | Path) -> Iterator[Path]:
    """Hold `folder/.mmcl.lock` while writing into `folder` (see `file_lock`)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with file_lock(folder / LOCK, folder) as lock:
        yield lock


@contextmanager
def file_lock(lock: Path, target: Path) -> Iterator[Path]:
    """Create `lock` (the owner's pid, host and start time) for as long as `target` is being
    written, so that two processes never interleave their files there. A lock whose process
    is gone (same host) is stale: it is taken over with a warning."""
    import json
    import socket
    import time
    import warnings

    me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.ctime()}
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                owner = json.loads(lock.read_text())
            except (OSError, ValueError):
                owner = {}
            same_host = owner.get("host") == me["host"]
            if same_host and isinstance(owner.get("pid"), int) and not _alive(owner["pid"]):
                warnings.warn(
                    f"{lock}: left by process {owner['pid']}, which is gone; taking it over.",
                    stacklevel=3,
                )
                lock.unlink(missing_ok=True)
                continue
            raise UserError(
                f"{target} is in use by process {owner.get('pid', '?')} on "
                f"{owner.get('host', '?')} (since {owner.get('started', '?')}); wait for it to "
                f"finish, or remove {lock} if that process is gone."
            ) from None
        with os.fdopen(fd, "w") as f:
            json.dump(me, f)
        break
    try:
        yield lock
    finally:
        lock.unlink(missing_ok=True)
