"""Time and peak memory of one MMCL training step against sequence length and batch size.

Unaligned MOSI/MOSEI hold 375-500 steps per modality, and CSD (an L x L similarity per pair
of modalities) and the attention blocks are quadratic in L. For each (L, batch) this runs
full training steps (forward, losses, backward, optimiser, actor-critic update with its
replay buffer) of MMCL at d = 128, 4 heads, in a fresh process, and prints the median step
time and the process's peak resident memory.

    .venv/bin/python benchmarks/long_sequences.py [--lengths 20,50,200,500]
        [--batches 16,32,64,128,256] [--variant corrected] [--precision fp32]
        [--ffn-dim 2048] [--max-gb 12] [--plot FILE.png] [--json]

A (L, batch) whose previous smaller batch at the same L already passed --max-gb is skipped
(reported as such), so the sweep never exhausts the machine.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time


def measure(length: int, batch: int, variant: str, precision: str, ffn: int) -> dict:
    from anchor import mmcl_trainer, run_steps, warm_up_batches

    warm, timed = warm_up_batches(batch), 2
    trainer = mmcl_trainer(variant, precision, ffn, batch, length, warm + timed, "/tmp/mmcl-long")
    buffer = trainer.model.buffer
    batches = list(trainer.sources["train"].batches(batch))
    run_steps(trainer, batches[:warm])  # the replay buffer holds a full actor-critic sample
    for t in [*buffer.data.values(), *buffer.store.values()]:
        t.fill_(1)  # a long run fills the whole replay buffer: count all of it as resident
    times = []
    for b in batches[warm:]:
        start = time.perf_counter()
        run_steps(trainer, [b])
        times.append(time.perf_counter() - start)
    return {
        "L": length,
        "batch": batch,
        "step_s": round(statistics.median(times), 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "buffer_mb": round(buffer.nbytes / 2**20, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lengths", default="20,50,200,500")
    ap.add_argument("--batches", default="16,32,64,128,256")
    ap.add_argument("--variant", default="corrected", choices=["reference", "corrected"])
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    ap.add_argument("--ffn-dim", type=int, default=2048)
    ap.add_argument("--max-gb", type=float, default=12.0)
    ap.add_argument("--plot", help="write a plot of step time and peak memory")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # internal: "L,batch"
    args = ap.parse_args()
    if args.one:
        length, batch = map(int, args.one.split(","))
        print(json.dumps(measure(length, batch, args.variant, args.precision, args.ffn_dim)))
        return
    rows = []
    print(f"MMCL {args.variant}, {args.precision}, ffn_dim {args.ffn_dim}, d 128")
    print(f"{'L':>5}{'batch':>7}{'step s':>9}{'samples/s':>11}{'peak MB':>10}{'buffer MB':>11}")
    for length in map(int, args.lengths.split(",")):
        over = False
        for batch in map(int, args.batches.split(",")):
            if over:
                print(f"{length:>5}{batch:>7}  skipped: a smaller batch passed --max-gb")
                continue
            cmd = [
                sys.executable,
                __file__,
                "--one",
                f"{length},{batch}",
                "--variant",
                args.variant,
                "--precision",
                args.precision,
                "--ffn-dim",
                str(args.ffn_dim),
            ]
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode:
                print(f"{length:>5}{batch:>7}  failed: {done.stderr.strip().splitlines()[-1]}")
                over = True
                continue
            r = json.loads(done.stdout.strip().splitlines()[-1])
            rows.append(r)
            print(
                f"{length:>5}{batch:>7}{r['step_s']:>9}{batch / r['step_s']:>11.1f}"
                f"{r['peak_rss_mb']:>10}{r['buffer_mb']:>11}",
                flush=True,
            )
            over = r["peak_rss_mb"] > args.max_gb * 1024
    if args.plot:
        plot(rows, args.plot, f"MMCL {args.variant}, {args.precision}, ffn_dim {args.ffn_dim}")
    if args.json:
        print(json.dumps({"rows": rows}))


def plot(rows: list[dict], path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(10, 4))
    for length in sorted({r["L"] for r in rows}):
        rs = [r for r in rows if r["L"] == length]
        xs = [r["batch"] for r in rs]
        ax_t.plot(xs, [r["step_s"] for r in rs], marker="o", label=f"L = {length}")
        ax_m.plot(xs, [r["peak_rss_mb"] / 1024 for r in rs], marker="o", label=f"L = {length}")
    for ax, label in ((ax_t, "seconds per training step"), (ax_m, "peak resident memory, GB")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("batch size")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    ax_m.axhline(4, color="red", linestyle="--", linewidth=1, label="4 GB")
    ax_m.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
