"""The MMCL ablation grid: the reference and corrected variants, one switch at a time from
the corrected variant, and the late-fusion baseline; each over several seeds."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from mmcl.data.dataset import Dataset
from mmcl.evaluation.report import csv_table, markdown_table
from mmcl.training.config import RunConfig
from mmcl.training.runs import train_seeds, write_json, write_text

# name -> (model, mmcl options applied on top of the run's own)
GRID: dict[str, tuple[str, dict[str, Any]]] = {
    "mmcl reference": ("mmcl", {"variant": "reference"}),
    "mmcl corrected": ("mmcl", {"variant": "corrected"}),
    "corrected csd=learned": ("mmcl", {"variant": "corrected", "csd": "learned"}),
    "corrected csd=none": ("mmcl", {"variant": "corrected", "csd": "none"}),
    "corrected specific=residual": ("mmcl", {"variant": "corrected", "specific": "residual"}),
    "corrected cce=maxpool": ("mmcl", {"variant": "corrected", "cce": "maxpool"}),
    "corrected cce=mean": ("mmcl", {"variant": "corrected", "cce": "mean"}),
    "corrected csm=fixed": ("mmcl", {"variant": "corrected", "csm": "fixed"}),
    "corrected csm=none": ("mmcl", {"variant": "corrected", "csm": "none"}),
    "corrected fusion=concat": ("mmcl", {"variant": "corrected", "fusion": "concat"}),
    "late fusion": ("late_fusion", {}),
}


def folder_name(name: str) -> str:
    return name.replace(" ", "_").replace("=", "-")


def run_ablation(
    base: RunConfig,
    ds: Dataset,
    out: Path,
    seeds: list[int],
    names: list[str] | None = None,
    resume: bool = False,
) -> dict[str, dict]:
    """Train every grid entry (or `names`) for `seeds`; write ablation.md/.csv/.json."""
    names = names or list(GRID)
    unknown = [n for n in names if n not in GRID]
    if unknown:
        raise ValueError(f"unknown ablation(s) {unknown}; known: {list(GRID)}.")
    rows = {}
    for name in names:
        model, options = GRID[name]
        own = base.model_options if base.model == model else {}
        cfg = replace(base, model=model, model_options={**own, **options})
        summary = train_seeds(cfg, ds, out / folder_name(name), seeds, resume=resume)
        rows[name] = summary["test"]
    header = (
        f"MMCL ablations on {ds.source}: test metrics of the validation-selected epoch, "
        f"mean ± std (sample std) over seeds {seeds}.\n\n"
    )
    write_text(out / "ablation.md", header + markdown_table(rows))
    write_text(out / "ablation.csv", csv_table(rows))
    write_json(out / "ablation.json", rows)
    return rows
