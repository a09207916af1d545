"""The tables of docs/performance.md, computed from the saved benchmark outputs in
docs/performance/ (throughput-before.txt, throughput.txt; section 7: throughput-same-day.txt,
throughput-2026-11-26.txt; section 5, where issue 12's targets stand: the latest whole
throughput run and the latest accuracy grid, LATEST_THROUGHPUT and LATEST_ACCURACY, and
the products' bound from profile_mmcl.py, LATEST_BOUNDS) and issue 12's anchor figures.

    .venv/bin/python benchmarks/performance_tables.py
"""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path

from anchor import ANCHOR_INFER, ANCHOR_TRAIN
from throughput import parse_row

FOLDER = Path(__file__).resolve().parents[1] / "docs" / "performance"
LATEST_THROUGHPUT = ["throughput-1514.txt", "throughput-1519.txt", "throughput-1523.txt"]
LATEST_ACCURACY = "speed_accuracy-5seeds.txt"
# profile_mmcl.py's products' bound, two rounds over the rows (section 5)
LATEST_BOUNDS = "profile-{variant}-{precision}-ffn{ffn}-bound-{round}.txt"
BOUND_ROUNDS = (1, 2)
# Models written up as slower than MMCL's reference variant in some runs, and where.
SLOWER_FOR_A_REASON = {"mult": "sections 9 and 10", "tfn": "section 9"}
MMCL_ROWS = [
    "mmcl:reference",
    "mmcl:reference:bf16",
    "mmcl:reference:bf16:ffn512",
    "mmcl:corrected",
    "mmcl:corrected:bf16",
    "mmcl:corrected:bf16:ffn512",
]


def load(name: str) -> dict:
    """The rows of a throughput.py --json run: its last JSON line (a wall-time line may follow)."""
    lines = (FOLDER / name).read_text().splitlines()
    return json.loads(next(s for s in reversed(lines) if s.startswith("{")))["models"]


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


def ceiling_rows(name: str) -> dict[str, dict[str, float]]:
    """The MMCL rows of a throughput.py run's second table (its figures by column name)."""
    columns = [
        "train_mflop",
        "infer_mflop",
        "fp32_ceiling",
        "bf16_ceiling",
        "train_share",
        "infer_share",
        "train_x",
        "infer_x",
        "train_bound",
        "infer_bound",
    ]
    rows = {}
    for line in (FOLDER / name).read_text().splitlines():
        cells = line.split()
        if len(cells) == 1 + len(columns) and cells[0].startswith("mmcl:"):
            rows[cells[0]] = {
                c: float(v.rstrip("%x")) for c, v in zip(columns, cells[1:], strict=True)
            }
    return rows


def wall_seconds(name: str) -> float:
    """The whole run's wall time, from the `wall N s` line under the table."""
    for line in (FOLDER / name).read_text().splitlines():
        if line.startswith("wall "):
            return float(line.split()[1])
    raise ValueError(f"{name}: no 'wall N s' line")


def accuracy_verdicts(name: str) -> dict[str, tuple[str, str, int]]:
    """Fast row of speed_accuracy.py's table -> (within one std of fp32, paired difference,
    number of seeds)."""
    verdicts = {}
    for line in (FOLDER / name).read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 8 and cells[0].startswith("mmcl") and cells[6] != "(fp32)":
            verdicts[cells[0]] = (cells[6], cells[7], len(cells[5].split(" / ")))
    return verdicts


def spread(values: list[float], unit: str = "x", digits: int = 2) -> str:
    """'median (min-max)' of one figure over the runs."""
    low, mid, high = min(values), statistics.median(values), max(values)
    return f"{mid:.{digits}f}{unit} ({low:.{digits}f}-{high:.{digits}f})"


def targets() -> None:
    """Section 5: issue 12's targets against the latest whole runs (median and range over
    them; a target is met when the median meets it) and the latest accuracy grid."""
    runs = [load(name) for name in LATEST_THROUGHPUT]
    bounds = [ceiling_rows(name) for name in LATEST_THROUGHPUT]
    accuracy = accuracy_verdicts(LATEST_ACCURACY)
    grid_row = {
        "mmcl:reference:bf16": "mmcl:variant=reference:train.precision=bf16",
        "mmcl:reference:bf16:ffn512": "mmcl:variant=reference:train.precision=bf16:ffn_dim=512",
        "mmcl:corrected:bf16": "mmcl:train.precision=bf16",
        "mmcl:corrected:bf16:ffn512": "mmcl:train.precision=bf16:ffn_dim=512",
    }

    def figure(row: str, name: str) -> list[float]:
        return [b[row][name] for b in bounds]

    def median(row: str, name: str) -> float:
        return statistics.median(figure(row, name))

    def speed(rows: list[str], name: str, bound: str, share: str) -> str:
        return "; ".join(
            f"{r}: {spread(figure(r, name))} at {spread(figure(r, share), ' %', 0)} of the "
            f"ceiling, bound {spread(figure(r, bound), digits=1)}"
            for r in rows
        )

    print("| target (issue 12) | measured: median (range) over the runs | met? |")
    print("|---|---|---|")
    walls = [wall_seconds(name) for name in LATEST_THROUGHPUT]
    print(
        "| `throughput.py --json` under 5 minutes, JSON last | "
        f"{' / '.join(f'{w:.0f} s' for w in walls)}, JSON last line | "
        f"{'yes' if max(walls) < 300 else '**no**'} |"
    )
    fp32 = ["mmcl:reference", "mmcl:corrected"]
    shares = "; ".join(
        f"{r}: {spread(figure(r, 'train_share'), ' %', 0)}, {spread(figure(r, 'train_x'))}"
        for r in fp32
    )
    met = all(median(r, "train_share") >= 80 for r in fp32)
    print(
        "| fp32, same arithmetic: 80 % of the fp32 ceiling (share; ratio to the scaled "
        f"anchor) | {shares} | {'yes' if met else '**no**'} |"
    )
    for target, rows in (
        (5, ["mmcl:reference:bf16", "mmcl:corrected:bf16"]),
        (10, ["mmcl:reference:bf16:ffn512", "mmcl:corrected:bf16:ffn512"]),
    ):
        within = "; ".join(
            f"{r}: {accuracy[grid_row[r]][0]}, paired {accuracy[grid_row[r]][1]}" for r in rows
        )
        fast = all(median(r, "train_x") >= target for r in rows)
        accurate = all(accuracy[grid_row[r]][0].startswith("yes") for r in rows)
        print(
            f"| {'bf16 + 512 wide' if target == 10 else 'bf16'}: {target}x the anchor's "
            f"training, validation MAE within one seed-std of fp32 | "
            f"{speed(rows, 'train_x', 'train_bound', 'train_share')}; "
            f"accuracy ({accuracy[grid_row[rows[0]]][2]} seeds): {within} | "
            f"{'yes' if fast and accurate else '**no**'} |"
        )
    best = max(bounds[0], key=lambda r: median(r, "infer_x"))
    largest = max(max(figure(r, "infer_bound")) for r in bounds[0])
    print(
        "| inference: 10x the anchor's | at best "
        f"{speed([best], 'infer_x', 'infer_bound', 'infer_share')}; "
        f"no row's bound above {largest:.1f}x | "
        f"{'yes' if median(best, 'infer_x') >= 10 else '**no**'} |"
    )
    slower: dict[str, int] = {}
    for run in runs:
        for row, r in run.items():
            mmcl = run["mmcl:reference:bf16" if row.endswith(":bf16") else "mmcl:reference"]
            if (
                not row.startswith("mmcl")
                and r["train_samples_per_s"] < mmcl["train_samples_per_s"]
            ):
                slower[row] = slower.get(row, 0) + 1
    unexplained = [row for row in slower if row.split(":")[0] not in SLOWER_FOR_A_REASON]
    listed = "; ".join(f"{row} in {n} of {len(runs)} runs" for row, n in slower.items())
    reasons = ", ".join(
        f"{row}: {SLOWER_FOR_A_REASON[row.split(':')[0]]}"
        for row in slower
        if row not in unexplained
    )
    verdict = "**no**" if unexplained else "yes" + (f" (reasons: {reasons})" if reasons else "")
    print(
        "| every other model in the table, none slower than MMCL without a reason | "
        "slower than MMCL's reference variant at the same precision: "
        f"{listed or 'none'} | {verdict} |"
    )
    moved = {
        row: max(r[row]["train_samples_per_s"] for r in runs)
        / min(r[row]["train_samples_per_s"] for r in runs)
        for row in MMCL_ROWS
    }
    row = max(moved, key=moved.get)
    print(
        f"\nMMCL's training samples/s, fastest over slowest of the runs: up to {moved[row]:.2f}x "
        f"({row}; {min(moved.values()):.2f}x at least)"
    )


def product_bounds() -> None:
    """Section 5: what the step's products alone allow (profile_mmcl.py, (5)), median and
    range over the rounds, against each row's target."""
    pattern = re.compile(r"(\d+) samples/s, ([\d.]+)x the anchor, (\d+) % of the")
    print(
        "| row | products' share of the step | (a) products at their rates in the step, "
        "nothing else | (b) products at the best rates seen for them, nothing else | target |"
    )
    print("|---|---|---|---|---|")
    targets = {("fp32", 2048): "80 % of the ceiling", ("bf16", 2048): "5x", ("bf16", 512): "10x"}
    for row in MMCL_ROWS:
        _, options, _, precision = parse_row(row)
        ffn = options.get("ffn_dim", 2048)
        found: dict[str, list[float]] = {}
        for round_ in BOUND_ROUNDS:
            name = LATEST_BOUNDS.format(
                variant=options["variant"], precision=precision, ffn=ffn, round=round_
            )
            text = (FOLDER / name).read_text()
            share = re.search(r"\((\d+) %\); every other operator free", text)
            found.setdefault("share", []).append(float(share.group(1)))
            for case, (_, ratio, of_ceiling) in zip("ab", pattern.findall(text), strict=True):
                found.setdefault(f"{case}x", []).append(float(ratio))
                found.setdefault(f"{case}%", []).append(float(of_ceiling))
        cells = [spread(found["share"], " %", 0)] + [
            f"{spread(found[f'{c}x'])}, {spread(found[f'{c}%'], ' %', 0)} of the ceiling"
            for c in "ab"
        ]
        print(f"| {row} | " + " | ".join(cells) + f" | {targets[precision, ffn]} |")


if __name__ == "__main__":
    main()
    print()
    same_day()
    print()
    targets()
    print()
    product_bounds()
