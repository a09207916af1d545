"""The data commands use when no --data is given: the real CMU-MOSI when it can be had.

MOSI is research data: it is imported locally (never shipped in the package) from
$MMCL_MOSI_SRC, else ../shared/data/mosi, into $MMCL_DATA_DIR/mosi (default data/mosi) once.
Without a source the synthetic planted-signal set is used. Every step is announced through
`say`, so nothing happens silently.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from mmcl.features.importers import import_dataset

MOSI_SOURCE = Path("../shared/data/mosi")
DATA_DIR = Path("data")


def default_data(say: Callable[[str], None]) -> str:
    """A path to the imported real MOSI (importing it first if needed), else 'synthetic'."""
    local = Path(os.environ.get("MMCL_DATA_DIR", DATA_DIR)) / "mosi"
    if (local / "manifest.json").is_file():
        say(f"no --data given: using the real MOSI imported in {local}")
        return str(local)
    src = Path(os.environ.get("MMCL_MOSI_SRC", MOSI_SOURCE))
    if (src / "labels.csv").is_file():
        say(f"no --data given: importing the real MOSI from {src} into {local} (once; ~1 min)")
        import_dataset("mosi", src, local, max_len=24)
        return str(local)
    say(
        f"no --data given and no real MOSI (no {local}, no {src}/labels.csv; set MMCL_MOSI_SRC): "
        "using the synthetic planted-signal data"
    )
    return "synthetic"
