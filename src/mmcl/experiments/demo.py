"""`mmcl demo`: MMCL (corrected) and late fusion, one seed each, beside a validation-tuned
linear floor and the constant predictor, on the default data."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from mmcl.config import resolve_config
from mmcl.data.loader import load_data
from mmcl.data.summary import describe, format_description
from mmcl.errors import UserError
from mmcl.evaluation.baselines import constant_predictions, linear_floor
from mmcl.evaluation.metrics import SELECTION_METRIC, evaluate
from mmcl.evaluation.report import markdown_table, summarize
from mmcl.experiments.defaults import default_data
from mmcl.experiments.runs import train_seeds

MODELS = ("mmcl", "late_fusion")
# left in every folder the demo writes; only such a folder is ever cleared by a later demo
MARKER = ".mmcl-demo"


def prepare_folder(out: Path) -> None:
    """Make `out` ready for a demo: create it, or clear what an earlier demo wrote there.
    A non-empty folder the demo did not make is refused and left untouched."""
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise UserError(
            f"--out {out} is not empty and was not made by `mmcl demo`; "
            "choose an empty or new folder."
        )
    for model in MODELS:  # only the demo's own run folders
        shutil.rmtree(out / model, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("written by `mmcl demo`; a later demo may replace this folder\n")


def run_demo(data: str | None, out: Path, say: Callable[[str], None]) -> str:
    """Train the demo's models into `out`; returns the test table (Markdown)."""
    prepare_folder(out)
    spec = data or default_data(say)
    ds = load_data(spec)
    say(format_description(describe(ds)))
    rows = {}
    for model in MODELS:
        cfg = resolve_config("demo", model=model, data=spec)
        say(f"training {model} ...")
        rows[f"{model} (test)"] = train_seeds(cfg, ds, Path(out) / model, [0])["test"]
    test = ds.splits["test"]
    metric_set = ds.task.metric_set
    floor, _ = linear_floor(ds)
    rows["linear floor (test)"] = summarize([evaluate(metric_set, floor, test.labels)])
    const = constant_predictions(ds.splits["train"].labels, ds.task, len(test))
    rows["constant (test)"] = summarize([evaluate(metric_set, const, test.labels)])
    cfg = resolve_config("demo", model=MODELS[0], data=spec)
    selection = cfg.train.selection_metric or SELECTION_METRIC[metric_set]
    return (
        f"data: {ds.source}; one seed, best epoch by validation {selection}\n\n"
        + markdown_table(rows)
    )
