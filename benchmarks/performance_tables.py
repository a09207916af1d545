"""The tables of docs/performance.md, computed from the saved benchmark outputs in
docs/performance/ (throughput-before.txt, throughput.txt) and issue 12's anchor figures.

    .venv/bin/python benchmarks/performance_tables.py
"""

from __future__ import annotations

import json
from pathlib import Path

FOLDER = Path(__file__).resolve().parents[1] / "docs" / "performance"
# the public MMCL reference code on this machine kind (issue 12): samples/s
ANCHOR_TRAIN, ANCHOR_INFER = 120.0, 1600.0
MMCL_ROWS = [
    "mmcl:reference",
    "mmcl:reference:bf16",
    "mmcl:reference:bf16:ffn512",
    "mmcl:corrected",
    "mmcl:corrected:bf16",
    "mmcl:corrected:bf16:ffn512",
]


def load(name: str) -> dict:
    return json.loads((FOLDER / name).read_text().splitlines()[-1])["models"]


def main() -> None:
    after, before = load("throughput.txt"), load("throughput-before.txt")
    print(
        "| row | train/s before | train/s after | after / anchor | infer/s before | "
        "infer/s after | after / anchor | peak MB after |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for row in MMCL_ROWS:
        a, b = after[row], before.get(row, {})
        cells = [
            str(b.get("train_samples_per_s", "-")),
            str(a["train_samples_per_s"]),
            f"{a['train_samples_per_s'] / ANCHOR_TRAIN:.2f}x",
            str(b.get("infer_samples_per_s", "-")),
            str(a["infer_samples_per_s"]),
            f"{a['infer_samples_per_s'] / ANCHOR_INFER:.2f}x",
            str(a["peak_rss_mb"]),
        ]
        print(f"| {row} | " + " | ".join(cells) + " |")
    print()
    print(
        "| model | train/s fp32 | train/s bf16 | infer/s fp32 | infer/s bf16 | "
        "p50 / p95 ms fp32 | train/s vs mmcl:reference |"
    )
    print("|---|---|---|---|---|---|---|")
    ref = after["mmcl:reference"]["train_samples_per_s"]
    for row, r in after.items():
        if row.startswith("mmcl") or row.endswith(":bf16"):
            continue
        bf = after.get(f"{row}:bf16", {})
        print(
            f"| {row} | {r['train_samples_per_s']} | {bf.get('train_samples_per_s', '-')} | "
            f"{r['infer_samples_per_s']} | {bf.get('infer_samples_per_s', '-')} | "
            f"{r['latency_ms_p50']} / {r['latency_ms_p95']} | "
            f"{r['train_samples_per_s'] / ref:.1f}x |"
        )


if __name__ == "__main__":
    main()
