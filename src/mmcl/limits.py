"""The memory budget: how much a file, a folder or an option may make the toolkit allocate.

Every reader computes the decoded size of what a file declares (array shapes after
decompression, a WAV's duration at the rate it is resampled to, a model's parameter count)
and charges it here *before* allocating. A small file that declares gigabytes (a zip bomb,
a sparse `.npy`, a 1 Hz WAV) is refused with one line, instead of exhausting the machine.

The allowance of an input is `RATIO` times the bytes it occupies on disk, and at least
`FLOOR`, never more than a quarter of the machine's memory; a config's model sizes (a recipe,
`--set`, a run's config.json) get `FLOOR`; sizes typed as options for generated data get a
quarter of the machine's memory. `MMCL_MEMORY_BUDGET_GB` (or `mmcl --memory-budget GB`)
replaces the rule with one fixed limit, for a trusted file that needs more.
"""

from __future__ import annotations

import os
from pathlib import Path

from mmcl.errors import UserError

GB = 1 << 30
MB = 1 << 20
# a real dataset decodes to about its size on disk (pickles, .npy, HDF5 as the CMU SDK
# writes them); compressed npz and HDF5 to a few times it. 32x leaves room for both.
RATIO = 32
# what any input may use: with the interpreter, torch and a working copy, a process that
# reads a small file stays well under 2 GB of resident memory
FLOOR = 512 * MB
ENV = "MMCL_MEMORY_BUDGET_GB"


def machine_memory() -> int:
    """Physical memory in bytes (8 GiB when the system does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 * GB


def fixed_limit() -> int | None:
    """The limit set by MMCL_MEMORY_BUDGET_GB, or None."""
    text = os.environ.get(ENV, "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise UserError(f"{ENV}={text!r}: give the memory budget in GB, a positive number.")
    return int(value * GB)


def disk_bytes(path: str | Path) -> int:
    """Bytes `path` occupies on disk (blocks really allocated: a sparse file counts what it
    holds, not what it declares); a folder: the sum over its files, links not followed."""
    path = Path(path)
    try:
        st = path.lstat()
    except OSError:
        return 0
    if path.is_symlink():
        return 0
    if path.is_dir():
        total = 0
        for root, _, files in os.walk(path):
            for name in files:
                try:
                    s = os.lstat(os.path.join(root, name))
                except OSError:
                    continue
                total += min(s.st_size, s.st_blocks * 512)
        return total
    return min(st.st_size, st.st_blocks * 512)


def allowance(source: str | Path | None, mapped: bool = False, asked: bool = False) -> int:
    """What reading `source` (None: a config's sizes) may allocate in all; `mapped`: what
    it may declare when its arrays are memory-mapped, not loaded (no cap by the machine's
    memory: such data may be larger than memory, only not larger than the file); `asked`:
    sizes typed as command-line options (synthetic data), a quarter of the machine's memory."""
    fixed = fixed_limit()
    if fixed is not None:
        return fixed
    if asked:
        return machine_memory() // 4
    size = disk_bytes(source) if source is not None else 0
    allowed = max(FLOOR, RATIO * size)
    return allowed if mapped else min(machine_memory() // 4, allowed)


def human(n: float) -> str:
    if n >= GB / 10:
        return f"{n / GB:.1f} GB"
    return f"{n / MB:.1f} MB" if n >= MB / 10 else f"{n / 1024:.0f} KB"


class Budget:
    """Charges the decoded sizes of what one input declares against its allowance."""

    def __init__(
        self,
        source: str | Path | None,
        name: str | None = None,
        mapped: bool = False,
        asked: bool = False,
    ) -> None:
        self.source = source
        self.name = name or (str(source) if source is not None else "the options")
        self.limit = allowance(source, mapped, asked)
        self.used = 0

    def charge(self, nbytes: int | float, what: str) -> None:
        """Add `nbytes` for `what`; a UserError when the total passes the allowance."""
        self.used += int(nbytes)
        if self.used > self.limit:
            on_disk = "" if self.source is None else f" (it holds {human(disk_bytes(self.source))})"
            raise UserError(
                f"{self.name}: {what} needs {human(nbytes)} of memory, {human(self.used)} in "
                f"all, past the memory budget of {human(self.limit)} for this input{on_disk}. "
                f"If you trust it, raise the budget: mmcl --memory-budget GB ... (or {ENV})."
            )
