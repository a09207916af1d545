"""Where a training step of MMCL spends its time: torch.profiler over a few full training
steps (forward, losses, backward, optimiser, actor-critic update) at the reference code's
IEMOCAP configuration (L = 20; text 300, audio 74, vision 35; d = 128, 4 heads, batch 128).

    .venv/bin/python benchmarks/profile_mmcl.py [--variant reference] [--precision fp32]
        [--ffn-dim 2048] [--steps 5]
    .venv/bin/python benchmarks/profile_mmcl.py --row mult:bf16   (any throughput.py row)
    .venv/bin/python benchmarks/profile_mmcl.py --by-shape aten::copy_,aten::mm

Prints (1) the share of the step in each named scope (the trainer's phases and MMCL's parts:
`train.*`, `mmcl.*`), (2) the operators with the most self time, and (3) the share of all
self time spent in matrix products, and in those whose output is `ffn_dim` wide or that
take an `ffn_dim`-wide input (the Transformer feed-forward blocks). Run it on a quiet
machine. With `--row`, the same for any row of `benchmarks/throughput.py` (its model,
data and trainer as that benchmark builds them); (3) then has no feed-forward part. With
`--by-shape`, (4) the named operators' time split by the shapes of their inputs.
"""

from __future__ import annotations

import argparse

import torch
from anchor import mmcl_trainer, run_steps, warm_up_batches
from torch.profiler import ProfilerActivity, profile

BATCH = 128
MATMULS = {
    "aten::addmm",
    "aten::mm",
    "aten::bmm",
    "aten::matmul",
    "aten::linear",
    "aten::baddbmm",
    "mkldnn::_linear_pointwise",  # the fp32 feed-forward's products (models/feed_forward.py)
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--variant", default="reference", choices=["reference", "corrected"])
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    ap.add_argument("--ffn-dim", type=int, default=2048)
    ap.add_argument("--steps", type=int, default=5, help="profiled steps (after warm-up)")
    ap.add_argument("--row", help="a throughput.py row instead (e.g. mult:bf16)")
    ap.add_argument(
        "--by-shape",
        default="",
        help="comma-separated operators (e.g. aten::copy_,aten::mm) to split by input shapes",
    )
    args = ap.parse_args()

    warm = warm_up_batches(BATCH)
    if args.row:
        from throughput import build_row

        trainer = build_row(args.row, warm + args.steps, "cpu")[1]
        title = f"{args.row}, batch {BATCH}"
    else:
        trainer = mmcl_trainer(
            args.variant,
            args.precision,
            args.ffn_dim,
            BATCH,
            20,
            warm + args.steps,
            "/tmp/mmcl-profile",
        )
        title = f"MMCL {args.variant}, {args.precision}, ffn_dim {args.ffn_dim}, batch {BATCH}"
    batches = list(trainer.sources["train"].batches(BATCH))
    run_steps(trainer, batches[:warm])  # fills the replay buffer and the allocator's caches
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        run_steps(trainer, batches[warm:])
    events = prof.key_averages()
    by_shape = prof.key_averages(group_by_input_shape=True)

    step_total = sum(e.self_cpu_time_total for e in events)
    print(
        f"{title}, {args.steps} steps, {torch.get_num_threads()} threads: "
        f"{step_total / 1e3 / args.steps:.1f} ms of operator time per step\n"
    )
    print("(1) named scopes (time inside, children included), share of the step")
    scopes = sorted(
        (e for e in events if e.key.startswith(("train.", "mmcl."))),
        key=lambda e: -e.cpu_time_total,
    )
    for e in scopes:
        print(
            f"  {e.key:<26}{e.cpu_time_total / 1e3 / args.steps:9.1f} ms"
            f"{100 * e.cpu_time_total / step_total:7.1f} %"
        )
    print("\n(2) operators by self time")
    ops = sorted(
        (e for e in events if not e.key.startswith(("train.", "mmcl."))),
        key=lambda e: -e.self_cpu_time_total,
    )
    for e in ops[:15]:
        print(
            f"  {e.key:<42}{e.self_cpu_time_total / 1e3 / args.steps:9.1f} ms"
            f"{100 * e.self_cpu_time_total / step_total:7.1f} %  calls/step "
            f"{e.count / args.steps:.0f}"
        )
    mat = sum(e.self_cpu_time_total for e in events if e.key in MATMULS)
    ffn = sum(
        e.self_cpu_time_total
        for e in by_shape
        if e.key in MATMULS and any(args.ffn_dim in (s or []) for s in e.input_shapes or [])
    )
    print(f"\n(3) matrix products: {100 * mat / step_total:.1f} % of operator self time", end="")
    print(
        ""
        if args.row
        else f"; those touching the {args.ffn_dim}-wide feed-forward: "
        f"{100 * ffn / step_total:.1f} %"
    )
    for op in filter(None, args.by_shape.split(",")):
        groups = sorted((e for e in by_shape if e.key == op), key=lambda e: -e.self_cpu_time_total)
        share = sum(e.self_cpu_time_total for e in groups) / step_total
        print(f"\n(4) {op}: {100 * share:.1f} % of operator self time; by input shapes")
        for e in groups[:12]:
            print(
                f"  {e.self_cpu_time_total / 1e3 / args.steps:8.2f} ms"
                f"{100 * e.self_cpu_time_total / step_total:6.1f} %  calls/step "
                f"{e.count / args.steps:4.0f}  {e.input_shapes}"
            )


if __name__ == "__main__":
    main()
