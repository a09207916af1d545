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
`--by-shape`, (4) the named operators' time split by the shapes of their inputs. Last, (5)
the products' bound: the samples/s the step would reach if every operator but the matrix
products (and attention kernels) took no time, (a) with the products at the rates they
have in the step, (b) with each at the best rate seen for it (timed on its own on fresh
contiguous inputs, by PyTorch's product and in fp32 by oneDNN's too, or in the step),
as a multiple of the anchor scaled as `throughput.py` scales it and as a share of this
process's ceiling (the step's FLOPs counted as `throughput.py` counts them): the most that
faster code around these products could reach.
"""

from __future__ import annotations

import argparse
import math

import torch
from anchor import ANCHOR_CEILING, ANCHOR_TRAIN, mmcl_trainer, run_steps, warm_up_batches
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
# PyTorch's attention kernels (fp32; bf16 at 20 steps takes `short_attention`'s products):
# counted with the products in (5), since the FLOP counter counts their products
ATTENTION = {
    "aten::_scaled_dot_product_flash_attention_for_cpu",
    "aten::_scaled_dot_product_flash_attention_for_cpu_backward",
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

    product_bound(trainer, batches[warm], events, by_shape, args.steps)


def product_flop(op: str, shapes: list) -> int:
    """FLOPs of one call of the matrix product `op` from its input shapes (0 when unknown)."""
    if op in ("aten::mm", "aten::addmm"):
        (m, k), (_, n) = shapes[:2] if op == "aten::mm" else shapes[1:3]  # mm: self, mat2, out
        return 2 * m * k * n
    if op == "aten::bmm":
        (b, m, k), (_, _, n) = shapes[:2]
        return 2 * b * m * k * n
    if op == "mkldnn::_linear_pointwise":  # x (..., k), weight (n, k)
        return 2 * math.prod(shapes[0]) * shapes[1][0]
    return 0


def isolated_ms(op: str, shapes: list, dtype: torch.dtype) -> float:
    """The best time (ms) of one call of the product `op` on fresh contiguous inputs of
    `shapes`, by the faster of PyTorch's product and (2-D, fp32) oneDNN's linear: the product
    on its own, caches warm, in the best layout the kernels take."""
    from throughput import calls_per_s

    from mmcl.models import feed_forward

    args = [torch.randn(s).to(dtype) for s in shapes]
    if op == "mkldnn::_linear_pointwise":
        x, w = args[0].reshape(-1, shapes[0][-1]), args[1]
        products = [lambda: feed_forward.linear(x, w, None)]
    else:
        a, b = args[:2] if op != "aten::addmm" else args[1:3]
        products = [lambda: torch.bmm(a, b) if a.dim() == 3 else torch.mm(a, b)]
        if dtype == torch.float32 and a.dim() == 2 and feed_forward.LINEAR is not None:
            w = b.t().contiguous()
            products.append(lambda: feed_forward.linear(a, w, None))
    return min(1e3 / calls_per_s(product, 0.06) for product in products)


def product_bound(trainer, batch, events, by_shape, steps: int) -> None:
    """Print (5): the step's products alone, at the rates the profile shows them and at
    the best rates seen for them."""
    from throughput import product_rate, train_mflop

    step_ms = sum(e.self_cpu_time_total for e in events) / 1e3 / steps
    attention_ms = sum(e.self_cpu_time_total for e in events if e.key in ATTENTION) / 1e3 / steps
    precision = trainer.cfg.precision
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    groups = sorted((e for e in by_shape if e.key in MATMULS), key=lambda e: -e.self_cpu_time_total)
    shapes = [[s for s in e.input_shapes if s] for e in groups]
    flops = [product_flop(e.key, s) for e, s in zip(groups, shapes, strict=True)]
    # ms per call on their own: the best of two passes over all the products, since this
    # machine's speed can halve for a while (docs/performance.md@50f71fa sec. 5)
    alone = [math.inf if flop else 0.0 for flop in flops]
    for _ in range(2):
        for i, (e, s, flop) in enumerate(zip(groups, shapes, flops, strict=True)):
            if flop:
                alone[i] = min(alone[i], isolated_ms(e.key, s, dtype))
    rows = []  # (ms per step in the step, GFLOP per step, ms per step on their own, event)
    for e, flop, ms in zip(groups, flops, alone, strict=True):
        rows.append((e.self_cpu_time_total / 1e3 / steps, flop * e.count / steps / 1e9, ms, e))
    product_ms = sum(r[0] for r in rows) + attention_ms
    # each product at the best rate seen for it, on its own or in the step
    best_ms = sum(min(step, ms * e.count / steps) for step, _, ms, e in rows)
    # after the profile: counting runs one more training step
    mflop = train_mflop(trainer, batch)
    # the best of three readings, each the best of its products (a reading can dip)
    ceiling = {d: max(product_rate(d) for _ in range(3)) for d in {dtype, torch.float32}}
    anchor = ANCHOR_TRAIN * ceiling[torch.float32] / ANCHOR_CEILING["fp32"]

    def bound(ms: float) -> str:
        rate = BATCH * mflop / ms  # GFLOP/s: MFLOP per ms
        return (
            f"{BATCH * 1e3 / ms:.0f} samples/s, {BATCH * 1e3 / ms / anchor:.2f}x the anchor, "
            f"{100 * rate / ceiling[dtype]:.0f} % of the {precision} ceiling"
        )

    print(
        f"\n(5) products alone: this process's ceilings fp32 {ceiling[torch.float32]:.0f}, "
        f"bf16 {ceiling.get(torch.bfloat16, float('nan')):.0f} GFLOP/s; the anchor "
        f"({ANCHOR_TRAIN:.0f} samples/s at an fp32 ceiling of {ANCHOR_CEILING['fp32']:.0f}) "
        f"scaled to {anchor:.0f} samples/s; the step counts {mflop:.0f} MFLOP per sample.\n"
        f"  (a) at the rates in the step: matrix products and attention kernels "
        f"{product_ms:.1f} ms of the step's {step_ms:.1f} ms ({100 * product_ms / step_ms:.0f} "
        f"%); every other operator free: {bound(product_ms)}\n"
        f"  (b) every product at the best rate seen for it, on its own or in the step "
        f"({best_ms:.1f} ms), the attention kernels ({attention_ms:.1f} ms) and every other "
        f"operator free: {bound(best_ms)}"
    )
    print("  the products with the most time, by input shapes: ms per step; GFLOP/s in the step")
    print("  and on their own (share of the ceiling)")
    for (ms, gflop, own_ms, e), shape in zip(rows[:14], shapes, strict=False):
        own = gflop / (own_ms * e.count / steps) * 1e3 if own_ms else 0.0
        print(
            f"  {ms:8.2f} ms{gflop / ms * 1e3:6.0f}{100 * gflop / ms * 1e3 / ceiling[dtype]:4.0f} %"
            f"{own:6.0f}{100 * own / ceiling[dtype]:4.0f} %  calls/step {e.count / steps:3.0f}  "
            f"{e.key} {shape}"
        )


if __name__ == "__main__":
    main()
