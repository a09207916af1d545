"""Progress of long steps (extraction, import, training) that shows in logs too.

On a terminal: a tqdm bar. Otherwise (output piped to a log, a batch job): a plain line on
stderr when the step starts, every `MMCL_PROGRESS_SECONDS` seconds (default 30) and when it
ends, so an eight-minute extraction is never silent.
"""

from __future__ import annotations

import contextlib
import contextvars
import io
import os
import sys
import time
from collections.abc import Iterable, Iterator
from typing import TextIO, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")

# False inside `silenced()`: the Python API's calls with progress=False show nothing
_SHOWN = contextvars.ContextVar("mmcl_progress_shown", default=True)


@contextlib.contextmanager
def silenced(silent: bool = True) -> Iterator[None]:
    """No progress output from this thread while the block runs (when `silent`)."""
    token = _SHOWN.set(not silent and _SHOWN.get())
    try:
        yield
    finally:
        _SHOWN.reset(token)


class Progress:
    """`update(n, note)` after each unit of work; `close()` at the end."""

    def __init__(
        self,
        total: int | None,
        desc: str,
        unit: str = "it",
        initial: int = 0,
        stream: TextIO | None = None,
        every: float | None = None,
    ) -> None:
        self.total, self.desc, self.unit, self.done = total, desc, unit, initial
        self.stream = stream or (sys.stderr if _SHOWN.get() else io.StringIO())
        self.every = (
            every if every is not None else float(os.environ.get("MMCL_PROGRESS_SECONDS", 30))
        )
        self.bar = None
        if self.stream.isatty():
            self.bar = tqdm(
                total=total, initial=initial, desc=desc, unit=unit, leave=False, file=self.stream
            )
        self.start = self.last = time.monotonic()
        self.note = ""
        if self.bar is None:
            self._line("started")

    def _line(self, state: str) -> None:
        if self.stream.closed:  # closed by whoever captured it (a test runner) before us
            return
        of = f"/{self.total}" if self.total is not None else ""
        pct = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
        note = f", {self.note}" if self.note else ""
        took = time.monotonic() - self.start
        print(
            f"{self.desc}: {self.done}{of} {self.unit}{pct}{note}, {took:.0f} s {state}",
            file=self.stream,
            flush=True,
        )

    def update(self, n: int = 1, note: str = "") -> None:
        self.done += n
        self.note = note or self.note
        if self.bar is not None:
            self.bar.update(n)
            if note:
                self.bar.set_postfix_str(note)
        elif time.monotonic() - self.last >= self.every:
            self.last = time.monotonic()
            self._line("elapsed")

    def close(self, finished: bool = True) -> None:
        """End the bar; `finished=False`: the work stopped short (an error, a break)."""
        if self.bar is not None:
            if not self.stream.closed:
                self.bar.close()
        else:
            self._line("done" if finished else "stopped")


def progress(
    items: Iterable[T], total: int | None, desc: str, unit: str = "it", show: bool = True
) -> Iterator[T]:
    """Iterate over `items` with a `Progress` (nothing shown when `show` is False)."""
    if not show:
        yield from items
        return
    p = Progress(total, desc, unit)
    finished = False
    try:
        for item in items:
            yield item
            p.update()
        finished = True
    finally:
        p.close(finished)
