"""Atomic writes: an interrupted write never leaves a half-written file or folder behind.

Temporary files and folders are created private (0600 / 0700); what is renamed into place
gets the permissions the user's umask gives a new file or folder."""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np

from mmcl.errors import UserError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def give_umask(path: str | Path, folder: bool = False) -> None:
    """Give `path` the permissions the user's umask gives a new file (or folder)."""
    os.chmod(path, (0o777 if folder else 0o666) & ~_umask())


@contextmanager
def atomic_folder(out: str | Path) -> Iterator[Path]:
    """Yield an empty temporary folder beside `out`; on success it replaces `out`
    (the old one is removed only after the rename), on failure it is deleted. A lock file
    beside `out` refuses a second writer of the same folder while this one works."""
    out = Path(out)
    check_folder_target(out)
    if protected(out) is not None:
        raise UserError(f"{out}: name a new folder for the output, not this one.")
    make_parent(out)
    with file_lock(out.with_name(f".{out.name}.lock"), out):
        # a writer of this folder killed earlier left these; the lock says none is at work
        for stale in out.parent.glob(f".{glob_escape(out.name)}{TMP}*"):
            shutil.rmtree(stale, ignore_errors=True)
        yield from _replace_folder(out)


TMP = ".mmcl-tmp-"  # what names a temporary of ours (and nothing a user would make)


def glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def make_parent(out: Path) -> None:
    """Create `out`'s parent folder; a parent that is a file, or not writable, is a UserError."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise UserError(f"{out}: a part of its path is a file, not a folder.") from None
    except PermissionError:
        raise UserError(f"{out}: no permission to create {out.parent}.") from None
    if not os.access(out.parent, os.W_OK | os.X_OK):
        raise UserError(f"{out}: no permission to write in {out.parent}.")


def check_folder_target(out: Path, option: str = "") -> None:
    """Refuse an output folder path that is a symbolic link or an existing file."""
    where = f"{option} {out}".strip()
    if out.is_symlink():
        raise UserError(f"{where}: a symbolic link; give a real folder.")
    if out.exists() and not out.is_dir():
        raise UserError(f"{where}: exists and is a file, not a folder; choose another path.")


def protected(out: Path) -> Path | None:
    """The working, home or root folder that `out` is or holds, if any: never replaced."""
    here = out.resolve()
    for keep in (Path.cwd(), Path.home(), Path("/")):
        if keep.resolve() == here or here in keep.resolve().parents:
            return keep
    return None


def check_output(out: str | Path, overwrite: bool, ours: Any = None, option: str = "--out") -> None:
    """Refuse to replace what the toolkit did not make: an existing file, or a non-empty
    folder for which `ours(folder)` is not true, unless `overwrite`; and never, even then,
    the working folder, the home folder, the root or a folder holding one of them."""
    out = Path(out)
    check_folder_target(out, option)
    if not out.exists() or not any(out.iterdir()) or (ours is not None and ours(out)):
        return
    if not overwrite:
        raise UserError(
            f"{option} {out}: exists, is not empty and was not made by this command; choose "
            "another path, or add --overwrite to replace it."
        )
    keep = protected(out)
    if keep is not None:
        raise UserError(f"{option} {out}: refused even with --overwrite: it holds {keep}.")


def _replace_folder(out: Path) -> Iterator[Path]:
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}{TMP}", dir=out.parent))
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
    if path.is_dir():
        raise UserError(f"{path}: a folder is in the way of this file; move it or choose another.")
    make_parent(path)
    _remove_dead_temporaries(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}{TMP}{os.getpid()}-", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _remove_dead_temporaries(path: Path) -> None:
    """Remove the temporary files that writers of `path` killed on this machine left (their
    names carry the writer's process id; a live writer's are left alone)."""
    for stale in path.parent.glob(f".{glob_escape(path.name)}{TMP}*"):
        pid = stale.name[len(f".{path.name}{TMP}") :].split("-")[0]
        if stale.is_file() and pid.isdigit() and not _alive(int(pid)):
            stale.unlink(missing_ok=True)


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A cell safe to open in a spreadsheet: text starting with =, +, -, @, tab or carriage
    return (a formula to Excel or LibreOffice) gets a leading ' as OWASP's CSV-injection
    guidance says; numbers, and text that is a number such as '-0.5', are left alone."""
    if not isinstance(value, str) or not value.startswith(FORMULA_START):
        return value
    try:
        float(value)
        return value
    except ValueError:
        return "'" + value


@contextmanager
def npy_writer(path: Path, shape: tuple[int, ...], dtype: str) -> Iterator[Any]:
    """A `.npy` file of `shape` written in parts: yields `write(rows)`, which appends rows;
    on leaving, the rows written must fill the shape."""
    dtype_ = np.dtype(dtype)
    row_bytes = math.prod(shape[1:]) * dtype_.itemsize
    written = 0
    with open(path, "wb") as f:
        header = {"descr": dtype_.str, "fortran_order": False, "shape": tuple(shape)}
        np.lib.format.write_array_header_2_0(f, header)

        def write(rows: np.ndarray) -> None:
            nonlocal written
            data = np.ascontiguousarray(rows, dtype=dtype_)
            f.write(data.tobytes())
            written += data.size * dtype_.itemsize

        yield write
    if written != shape[0] * row_bytes:
        raise RuntimeError(f"{path}: wrote {written} bytes of {shape[0] * row_bytes}")


# a manifest, config or lock file is metadata: kilobytes. A larger one is not ours.
MAX_JSON_BYTES = 64 << 20


def read_json(path: str | Path, hint: str = "") -> Any:
    """A JSON file the toolkit wrote (manifest, config, lock, state); a missing, damaged,
    oversized or too deeply nested one is a UserError naming it (`hint`: what to do)."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_JSON_BYTES:
            raise UserError(f"{path}: larger than {MAX_JSON_BYTES >> 20} MB; not a file of ours.")
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as e:  # ValueError: JSON or UTF-8 decoding
        raise UserError(f"{path}: not a readable JSON file ({str(e)[:200]}).{hint}") from None


def read_json_object(path: str | Path, hint: str = "") -> dict[str, Any]:
    """`read_json`, which must give an object (a dict)."""
    obj = read_json(path, hint)
    if not isinstance(obj, dict):
        raise UserError(f"{path}: expected a JSON object, found {type(obj).__name__}.{hint}")
    return obj


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
    import socket
    import time
    import warnings

    me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.ctime()}
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                owner = json.loads(lock.read_text(encoding="utf-8"))
            except (OSError, ValueError, RecursionError):
                owner = {}
            if not isinstance(owner, dict):  # a damaged lock: its owner is unknown
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
