"""Does the speed work cost accuracy? Runs the `speed_accuracy` grid (MMCL's two variants
in fp32, bf16, and bf16 with a 512-wide feed-forward; 3 seeds unless --seeds; planted-signal
synthetic data; selection on validation MAE) and prints, per variant, validation and test MAE
and Corr as mean ± std over seeds, whether each fast row lies within one seed-std of its fp32
row, and the paired comparison on validation MAE: each seed's fast row minus the same seed's
fp32 row, mean ± std of those differences, and the paired t-test's p-value.

    .venv/bin/python benchmarks/speed_accuracy.py [--out runs/speed-accuracy] [--jobs 2]
        [--seeds 5]

Finished runs in --out are kept (run it again to resume); the grid's own tables are in
--out/compare.md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from mmcl.evaluation.report import paired_pvalues
from mmcl.experiments.grid import folder_name, load_grid, run_grid_on

METRICS = ("MAE", "Corr")


def valid_mae_by_seed(folder: Path, seeds: int) -> dict[int, float]:
    """Seed -> validation MAE of the selected epoch, from each run's metrics.json (seeds
    0..seeds-1: the folder may hold more from an earlier, larger run)."""
    runs = (json.loads((folder / f"seed-{s}" / "metrics.json").read_text()) for s in range(seeds))
    return {r["seed"]: r["valid"]["MAE"] for r in runs}


def paired_cell(fast: dict[int, float], fp32: dict[int, float]) -> str:
    """Mean ± std of the per-seed differences (fast - fp32) and the paired t-test p-value."""
    seeds = sorted(set(fast) & set(fp32))
    diff = np.array([fast[s] - fp32[s] for s in seeds])
    p = paired_pvalues([{"MAE": fp32[s]} for s in seeds], [{"MAE": fast[s]} for s in seeds])
    return f"{diff.mean():+.3f} ± {diff.std(ddof=1):.3f} (p {p['MAE']:.2g})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("runs/speed-accuracy"))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seeds", type=int, help="seeds 0..N-1 per row (default: the grid's)")
    args = ap.parse_args()
    grid = load_grid("speed_accuracy").with_options(seeds=args.seeds)
    run_grid_on(grid, grid.data, args.out, jobs=args.jobs, resume=True, say=lambda _: None)
    summaries = {
        spec: json.loads((args.out / folder_name(spec) / "summary.json").read_text())
        for spec in grid.models
    }
    by_seed = {
        spec: valid_mae_by_seed(args.out / folder_name(spec), grid.seeds) for spec in grid.models
    }
    header = "| row | " + " | ".join(f"{s} {m}" for s in ("valid", "test") for m in METRICS)
    print(
        header + " | valid MAE by seed | within one std of fp32 (valid MAE) "
        "| paired valid MAE - fp32 |"
    )
    print("|---" * (4 + 2 * len(METRICS)) + "|")
    for spec, summary in summaries.items():
        base = spec.split(":train.precision")[0]  # the variant's fp32 row
        cells = [
            f"{summary[split][m]['mean']:.3f} ± {summary[split][m]['std']:.3f}"
            for split in ("valid", "test")
            for m in METRICS
        ]
        seeds = " / ".join(f"{v:.3f}" for _, v in sorted(by_seed[spec].items()))
        verdict, paired = "(fp32)", "-"
        if base != spec:
            ref = summaries[base]["valid"]["MAE"]
            gap = abs(summary["valid"]["MAE"]["mean"] - ref["mean"])
            verdict = (
                f"{'yes' if gap <= ref['std'] else 'no'} (gap {gap:.3f}, std {ref['std']:.3f})"
            )
            paired = paired_cell(by_seed[spec], by_seed[base])
        print(f"| {spec} | " + " | ".join(cells) + f" | {seeds} | {verdict} | {paired} |")


if __name__ == "__main__":
    main()
