"""Regenerate docs/performance.md: per model, how fast it trains and predicts here, what the
speed options cost in accuracy, memory against sequence length, why the results' epoch
times differ from these, and what the speed work found.

    .venv/bin/python scripts/make_performance.py [--redo throughput,epoch_time,...]
        [--repeat 3]

Each step runs one benchmark of `benchmarks/` and saves its raw output as
docs/performance/<step>.txt, headed by the command, the commit and the time. A step whose
output exists is reused (the document says when and at which commit it was measured);
`--redo` names the steps to measure again. Run it alone on the machine: the figures are
timings. Every number in docs/performance.md is computed here from those files.
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RAW = ROOT / "docs" / "performance"
DOC = ROOT / "docs" / "performance.md"
BENCH = ROOT / "benchmarks"
sys.path.insert(0, str(BENCH))

from anchor import ANCHOR_INFER, ANCHOR_TRAIN  # noqa: E402

PY = sys.executable
# step -> the benchmark command (run from the repository's root)
STEPS: dict[str, list[str]] = {
    "throughput": [PY, "benchmarks/throughput.py", "--json", "--repeat", "{repeat}"],
    "epoch_time": [PY, "benchmarks/epoch_time.py", "--json"],
    "long_sequences": [
        PY, "benchmarks/long_sequences.py", "--variant", "reference", "--lengths",
        "20,50,200,500", "--batches", "16,64,256", "--max-gb", "8", "--json",
    ],
    "speed_accuracy": [PY, "benchmarks/speed_accuracy.py", "--seeds", "5", "--jobs", "2"],
    **{
        f"bound-{v}-{p}-ffn{f}": [
            PY, "benchmarks/profile_mmcl.py", "--variant", v, "--precision", p,
            "--ffn-dim", str(f),
        ]
        for v in ("reference", "corrected")
        for p, f in (("fp32", 2048), ("bf16", 2048), ("bf16", 512))
    },
}  # fmt: skip
# what was tried and dropped, with the script that measured it (it left the tree; the
# document names the last commit that held it)
DROPPED = {
    "benchmarks/compile_mmcl.py": "torch.compile of MMCL's forward passes against eager: "
    "dropped (slower than eager here; bf16 inference failed to compile)",
    "benchmarks/ffn_blocks.py": "the feed-forward without gradients in blocks of rows: kept "
    "for fp32 inference (`EncoderLayer.feed_forward`)",
    "benchmarks/onednn_ffn.py": "the fp32 feed-forward's products through oneDNN instead of "
    "MKL: kept where the build has oneDNN (`models/feed_forward.py`)",
    "benchmarks/short_attention.py": "bf16 attention of short sequences written out against "
    "PyTorch's kernel: kept for bf16 on the CPU (`models/short_attention.py`)",
}


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()


def measure(step: str, repeat: int) -> None:
    """Run the step's benchmark alone and save its output, headed by how and when."""
    cmd = [a.format(repeat=repeat) for a in STEPS[step]]
    started = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    t0 = time.perf_counter()
    print(f"measuring {step}: {' '.join(cmd[1:])}", flush=True)
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{step} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    wall = time.perf_counter() - t0
    head = f"# {' '.join(['python', *cmd[1:]])} at {git('rev-parse', '--short', 'HEAD')}, "
    head += f"{started}, wall {wall:.0f} s\n"
    tmp = RAW / f".{step}.txt.tmp"
    tmp.write_text(head + done.stdout)
    tmp.replace(RAW / f"{step}.txt")


def raw(step: str) -> str:
    return (RAW / f"{step}.txt").read_text()


def when(step: str) -> str:
    """'at COMMIT, DATE' from a raw output's first line."""
    m = re.search(r" at (?:commit )?([0-9a-f]{7,}),? (\d{4}-\d\d-\d\d)", raw(step).splitlines()[0])
    return f"{m.group(2)}, commit {m.group(1)}" if m else "(undated)"


def last_json(step: str) -> dict:
    return json.loads(next(s for s in reversed(raw(step).splitlines()) if s.startswith("{")))


# ----------------------------------------------------------------------------- sections
def models_table() -> list[str]:
    """A line per model (and MMCL speed option): its fp32 and bf16 rows side by side."""
    rows = last_json("throughput")["models"]
    keys = dict.fromkeys(r.replace(":bf16", "") for r in rows)
    out = [
        "| model | train/s fp32 | train/s bf16 | infer/s fp32 | infer/s bf16 | train vs the "
        "reference code (fp32 / bf16) | infer vs the reference code (fp32 / bf16) | "
        "peak MB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key in keys:
        head, _, rest = key.partition(":ffn")
        fp32 = rows.get(key)
        bf16 = rows.get(f"{head}:bf16" + (f":ffn{rest}" if rest else ""))

        def fig(r: dict | None, what: str, anchor: float | None = None) -> str:
            if r is None:
                return "-"
            value = r[f"{what}_samples_per_s"]
            return f"{value / anchor:.2f}x" if anchor else f"{value:.0f}"

        peak = max(r["peak_rss_mb"] for r in (fp32, bf16) if r)
        out.append(
            f"| `{key}` | {fig(fp32, 'train')} | {fig(bf16, 'train')} | {fig(fp32, 'infer')} | "
            f"{fig(bf16, 'infer')} | {fig(fp32, 'train', ANCHOR_TRAIN)} / "
            f"{fig(bf16, 'train', ANCHOR_TRAIN)} | {fig(fp32, 'infer', ANCHOR_INFER)} / "
            f"{fig(bf16, 'infer', ANCHOR_INFER)} | {peak:.0f} |"
        )
    return out


def accuracy_table() -> list[str]:
    lines = [s for s in raw("speed_accuracy").splitlines() if s.startswith("|")]
    keep = [0, 1, 3, 6, 7]  # row, valid MAE, test MAE, within one std, paired difference
    out = []
    for line in lines:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        out.append("| " + " | ".join(cells[i] for i in keep) + " |")
    return out


def long_table() -> tuple[list[str], dict]:
    rows = last_json("long_sequences")["rows"]
    out = ["| L | batch | s per step | samples/s | peak MB |", "|---|---|---|---|---|"]
    for r in rows:
        out.append(
            f"| {r['L']} | {r['batch']} | {r['step_s']:.2f} | {r['batch'] / r['step_s']:.1f} | "
            f"{r['peak_rss_mb']:.0f} |"
        )
    return out, rows


def results_epoch_seconds() -> float | None:
    """docs/results.md's median seconds per epoch of `mmcl` on MOSI (its first table)."""
    text = (ROOT / "docs" / "results.md").read_text()
    m = re.search(r"median seconds per epoch[^:]*: `mmcl` ([\d.]+)", text)
    return float(m.group(1)) if m else None


def epoch_section() -> list[str]:
    found = last_json("epoch_time")
    rows = found["rows"]
    out = ["| how MMCL was run (MOSI, results' settings) | s per epoch | wall s |", "|---|---|---|"]
    out += [f"| {k} | {v['seconds_per_epoch']} | {v['wall_s']} |" for k, v in rows.items()]
    alone = rows["alone, default threads"]["seconds_per_epoch"]
    grid = rows["2 runs at once, 1 thread each"]["seconds_per_epoch"]
    published = results_epoch_seconds()
    out.append("")
    if "steps" in found:
        out.append(f"Data: `{found['data']}`, steps per modality {found['steps']}.\n")
    else:
        out.append(
            "Data: the measurement does not record its data's steps; MOSI imported with "
            "fewer text steps than the results' runs costs less per epoch.\n"
        )
    out.append(
        f"Two one-thread runs at once, as docs/results.md's grids run, take {grid / alone:.1f}x "
        "the seconds per epoch of one run alone with the default threads"
        + (
            f"; docs/results.md's MOSI table reports {published} s for `mmcl` "
            f"({published / grid:.2f}x the two-at-once figure here)."
            if published
            else "."
        )
    )
    return out


def bound_rows() -> list[str]:
    out = [
        "| row | products' share of the step | the most the step could reach if all else "
        "were free |",
        "|---|---|---|",
    ]
    for step in (s for s in STEPS if s.startswith("bound-")):
        if not (RAW / f"{step}.txt").exists():
            continue
        text = raw(step)
        share = re.search(r"\((\d+) %\); every other operator free: ([^\n]+)", text)
        if share:
            out.append(f"| {step[6:]} | {share.group(1)} % | {share.group(2).strip()} |")
    return out


def dropped() -> list[str]:
    out = []
    for path, what in DROPPED.items():
        gone = git("rev-list", "-n", "1", "HEAD", "--", path)
        held = git("rev-parse", "--short", f"{gone}^") if gone else "(still in the tree)"
        out.append(f"- {what}: `{path}` at commit {held}.")
    return out


def document() -> str:
    steps = "; ".join(f"{s} {when(s)}" for s in STEPS if (RAW / f"{s}.txt").exists())
    long_lines, _ = long_table()
    parts = [
        "# Performance",
        "",
        "How fast each model trains and predicts on this project's machine kind (2 cores, no "
        "GPU, PyTorch's CPU build), against the MMCL reference code's measured rate "
        f"({ANCHOR_TRAIN} training and {ANCHOR_INFER} inference samples/s at its IEMOCAP "
        "configuration: issue 12's anchor, `benchmarks/anchor.py`). Regenerated by "
        "`.venv/bin/python scripts/make_performance.py`; the raw outputs are in "
        "`docs/performance/`, each headed by its command, commit and time (measured: "
        f"{steps}). Figures vary between runs (a fifth and more minutes apart): compare "
        "within one run.",
        "",
        "## Per model: samples per second",
        "",
        "Synthetic IEMOCAP-shaped data (L = 20; text 300, audio 74, vision 35), d = 128, 4 "
        "heads, batch 128 in training (the one trainer's full steps), 256 at inference (no "
        "grad); each row in a fresh process, medians over the rounds of `--repeat`. "
        "`mmcl:...:ffn512` is MMCL with a 512-wide feed-forward (a speed option, not the "
        "published model).",
        "",
        *models_table(),
        "",
        "## What the speed options cost in accuracy",
        "",
        "MMCL's two variants in fp32, bf16, and bf16 with the 512-wide feed-forward, on the "
        "planted-signal synthetic set, 5 seeds, selected on validation MAE "
        "(`benchmarks/speed_accuracy.py`): a speed option is free when its validation MAE "
        "lies within one seed-std of fp32.",
        "",
        *accuracy_table(),
        "",
        "## Time and memory against sequence length",
        "",
        "One MMCL training step (reference variant, fp32) at L steps per modality and a batch "
        "size, in a fresh process (`benchmarks/long_sequences.py`); CSD and attention are "
        "quadratic in L.",
        "",
        *long_lines,
        "",
        "## The results' epoch times",
        "",
        "docs/results.md reports each run's median seconds per epoch: an epoch's training, "
        "its validation pass and the saved weights, with its grids running two one-thread "
        "runs at once. `benchmarks/epoch_time.py` trains MMCL at the results' MOSI settings "
        "in three ways:",
        "",
        *epoch_section(),
        "",
        "## What the speed work found",
        "",
        "Where a training step's time goes is the matrix products of the feed-forward "
        "blocks (`benchmarks/profile_mmcl.py`); the most each row could reach if every "
        "other operator were free:",
        "",
        *bound_rows(),
        "",
        "Tried and measured; each script left the tree once its conclusion was in the code "
        "(or the idea dropped), and is read, with its raw outputs and write-up, at the "
        "commit named:",
        "",
        *dropped(),
        "",
    ]
    return "\n".join(parts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--redo", default="", help=f"steps to measure again: {', '.join(STEPS)}")
    ap.add_argument("--repeat", type=int, default=3, help="throughput rounds (medians)")
    args = ap.parse_args()
    redo = {s for s in args.redo.split(",") if s}
    unknown = redo - set(STEPS)
    if unknown:
        sys.exit(f"--redo: unknown steps {sorted(unknown)}; steps: {', '.join(STEPS)}")
    for step in STEPS:
        if step in redo or not (RAW / f"{step}.txt").exists():
            measure(step, args.repeat)
    text = document()
    tmp = DOC.with_suffix(".md.tmp")
    tmp.write_text(text)
    tmp.replace(DOC)
    print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
