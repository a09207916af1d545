"""Does the speed work cost accuracy? Runs the `speed_accuracy` grid (MMCL's two variants
in fp32, bf16, and bf16 with a 512-wide feed-forward; 3 seeds; planted-signal synthetic data;
selection on validation MAE) and prints, per variant, validation and test MAE and Corr as
mean ± std over seeds, and whether each fast row lies within one seed-std of its fp32 row.

    .venv/bin/python benchmarks/speed_accuracy.py [--out runs/speed-accuracy] [--jobs 2]

Finished runs in --out are kept (run it again to resume); the grid's own tables are in
--out/compare.md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mmcl.experiments.grid import folder_name, load_grid, run_grid_on

METRICS = ("MAE", "Corr")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("runs/speed-accuracy"))
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    grid = load_grid("speed_accuracy")
    run_grid_on(grid, grid.data, args.out, jobs=args.jobs, resume=True, say=lambda _: None)
    summaries = {
        spec: json.loads((args.out / folder_name(spec) / "summary.json").read_text())
        for spec in grid.models
    }
    header = "| row | " + " | ".join(f"{s} {m}" for s in ("valid", "test") for m in METRICS)
    print(header + " | within one std of fp32 (valid MAE) |")
    print("|---" * (2 + 2 * len(METRICS)) + "|")
    for spec, summary in summaries.items():
        base = spec.split(":train.precision")[0]  # the variant's fp32 row
        cells = [
            f"{summary[split][m]['mean']:.3f} ± {summary[split][m]['std']:.3f}"
            for split in ("valid", "test")
            for m in METRICS
        ]
        verdict = "(fp32)"
        if base != spec:
            ref = summaries[base]["valid"]["MAE"]
            gap = abs(summary["valid"]["MAE"]["mean"] - ref["mean"])
            verdict = (
                f"{'yes' if gap <= ref['std'] else 'no'} (gap {gap:.3f}, std {ref['std']:.3f})"
            )
        print(f"| {spec} | " + " | ".join(cells) + f" | {verdict} |")


if __name__ == "__main__":
    main()
