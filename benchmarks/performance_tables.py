"""The tables of docs/performance.md, computed from the saved benchmark outputs in
docs/performance/ (throughput-before.txt, throughput.txt; section 7: throughput-same-day.txt,
throughput-2026-11-26.txt) and issue 12's anchor figures.

    .venv/bin/python benchmarks/performance_tables.py
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from anchor import ANCHOR_INFER, ANCHOR_TRAIN

FOLDER = Path(__file__).resolve().parents[1] / "docs" / "performance"
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


def same_day() -> None:
    """Section 7: commits measured side by side on one day, and that day's full run."""
    runs: dict[str, dict[str, list[tuple[float, float]]]] = {}
    commit = ""
    for line in (FOLDER / "throughput-same-day.txt").read_text().splitlines():
        if line.startswith("## "):
            commit = line.split()[1]
        elif commit and line and not line.startswith(("#", "model")):
            name, train, infer = line.split()[:3]
            runs.setdefault(commit, {}).setdefault(name, []).append((float(train), float(infer)))
    commits = list(runs)
    print("| row | " + " | ".join(f"train/s {c}" for c in commits) + " |")
    print("|---|" + "---|" * len(commits))
    rows = dict.fromkeys(name for c in commits for name in runs[c])
    for row in rows:
        cells = []
        for c in commits:
            got = [t for t, _ in runs[c].get(row, [])]
            cells.append(" / ".join(f"{t:.0f}" for t in got) if got else "-")
        print(f"| {row} | " + " | ".join(cells) + " |")
    print()
    today = load("throughput-2026-11-26.txt")
    print("| row | train/s | / anchor | infer/s | / anchor |")
    print("|---|---|---|---|---|")
    for row in MMCL_ROWS:
        r = today[row]
        print(
            f"| {row} | {r['train_samples_per_s']} | {r['train_samples_per_s'] / ANCHOR_TRAIN:.2f}x"
            f" | {r['infer_samples_per_s']} | {r['infer_samples_per_s'] / ANCHOR_INFER:.2f}x |"
        )
    then = load("throughput.txt")["mmcl:reference"]
    old_train = statistics.mean(t for t, _ in runs["1278b9d"]["mmcl:reference"])
    old_infer = statistics.mean(i for _, i in runs["1278b9d"]["mmcl:reference"])
    new_train = statistics.mean(t for t, _ in runs["39c480b"]["mmcl:reference"])
    drift_t, drift_i = (
        old_train / then["train_samples_per_s"],
        old_infer / then["infer_samples_per_s"],
    )
    print(
        f"\nmmcl:reference at 1278b9d today: train {old_train:.1f}, infer {old_infer:.1f} "
        f"samples/s, against {then['train_samples_per_s']} and {then['infer_samples_per_s']} "
        f"in throughput.txt: this morning's machine {drift_t:.2f}x / {drift_i:.2f}x as fast"
    )
    print(f"39c480b against 1278b9d side by side (fp32 training): {new_train / old_train:.3f}x")
    print("the 39c480b table against the anchor scaled by that drift:")
    for row in MMCL_ROWS:
        r = today[row]
        print(
            f"  {row}: train {r['train_samples_per_s'] / (ANCHOR_TRAIN * drift_t):.2f}x, "
            f"infer {r['infer_samples_per_s'] / (ANCHOR_INFER * drift_i):.2f}x"
        )


if __name__ == "__main__":
    main()
    print()
    same_day()
