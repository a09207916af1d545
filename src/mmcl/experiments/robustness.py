"""`mmcl robustness`: the perturbation report of a run's validation-best seed, on disk."""

from __future__ import annotations

from pathlib import Path

from mmcl.data.io import check_folder_target
from mmcl.errors import UserError
from mmcl.evaluation.inference import load_for
from mmcl.evaluation.metrics import SELECTION_METRIC
from mmcl.evaluation.robustness import (
    plot_report,
    report_csv,
    report_markdown,
    robustness_report,
)
from mmcl.run_folder import best_seed_dir, write_json, write_text

REPORT = ("robustness.md", "robustness.csv", "robustness.json", "robustness.png")


def write_robustness(
    run: Path,
    data: str | None,
    split: str,
    out: Path | None,
    preset: str | None,
    overwrite: bool = False,
) -> tuple[str, Path]:
    """Write robustness.{md,csv,json,png} into `out` (default: the run folder, where an
    earlier report is replaced); returns the table (Markdown) and the folder. In another
    `out`, files of those names are replaced only with `overwrite`."""
    if out is not None:
        check_folder_target(out, "--out")
    clash = [n for n in REPORT if out is not None and (out / n).exists()]
    if clash and not overwrite:
        raise UserError(
            f"--out {out}: holds {', '.join(clash)}; choose another folder, or add --overwrite."
        )
    seed_dir = best_seed_dir(run)
    model, _, ds = load_for(seed_dir, data, preset)
    if split not in ds.splits:
        raise UserError(f"--split must be one of {sorted(ds.splits)}, not '{split}'.")
    rows = robustness_report(model, ds.splits[split], ds.task.metric_set)
    folder = Path(out or run)
    table = report_markdown(rows)
    write_text(
        folder / "robustness.md", f"Robustness of {seed_dir} on {ds.source} [{split}]\n\n{table}"
    )
    write_text(folder / "robustness.csv", report_csv(rows))
    write_json(folder / "robustness.json", rows)
    plot_report(rows, SELECTION_METRIC[ds.task.metric_set], folder / "robustness.png")
    return table, folder
