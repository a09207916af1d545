"""Self-attention of short sequences in bf16 on the CPU: PyTorch's scaled_dot_product_attention
(the plain kernel `models.base.kernels` chooses there) against `mmcl.models.short_attention`,
at the MMCL reference code's IEMOCAP configuration (batch 128, L = 20, 4 heads, the critic's
layers 132 wide).

    .venv/bin/python benchmarks/short_attention.py [--repeats 7] [--steps 4]

(1) The attention alone, from the packed q/k/v projection to the heads' concatenated output,
    forward and backward (or forward only, without gradients), in bf16 (autocast) and in fp32,
    at 20, 50 and 64 steps with padded samples: median ms of each path, and the ratio.
(2) MMCL in bf16, samples/s: full training steps of the one trainer (the actor-critic update
    included) and inference (batch 256, no grad), with PyTorch's attention and with the
    short-sequence path, alternating in one process so that the machine's drift hits both
    alike; and the largest difference between the two paths' predictions on one batch.

Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time

import torch
from anchor import alternating

from mmcl.models import mmcl as mmcl_module
from mmcl.models import short_attention
from mmcl.models.base import arithmetic

APPLIES = short_attention.applies


def use(path: str) -> None:
    """Put a path in place: "short" (the module's rule) or "PyTorch" (never the short path)."""
    short_attention.applies = APPLIES if path == "short" else (lambda qkv: False)


def alternating_ms(fns: dict, repeats: int) -> dict[str, float]:
    """Median ms of each of `fns`, alternating call by call."""
    times = {name: [] for name in fns}
    for r in range(repeats + 1):  # the first round warms both up
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            if r:
                times[name].append(1e3 * (time.perf_counter() - start))
    return {name: statistics.median(ms) for name, ms in times.items()}


def attention_step(attend, qkv, keys, upstream, precision: str, grad: bool) -> None:
    with arithmetic(qkv.device, qkv.shape[1], precision), torch.set_grad_enabled(grad):
        out = attend(qkv, 4, keys)
    if grad:
        (out * upstream).sum().backward()


def attention_alone(repeats: int) -> None:
    """PyTorch's attention as MMCL's layers called it before (the plain kernel in bf16, the
    fused one in fp32) against the short-sequence function, in both precisions (the layers
    take the function in bf16 only)."""
    print("(1) the attention alone, batch 128, 4 heads, width 132: median ms")
    print(f"  {'precision':<10}{'pass':<18}{'steps':>6}{'PyTorch':>9}{'short':>8}{'ratio':>8}")
    torch.manual_seed(0)
    use("PyTorch")  # self_attention: PyTorch's; short_attention.attention: the function
    try:
        for precision in ("bf16", "fp32"):
            dtype = torch.bfloat16 if precision == "bf16" else torch.float32
            for grad in (True, False):
                for steps in (20, 50, 64):
                    qkv = torch.randn(128, steps, 3 * 132, dtype=dtype, requires_grad=grad)
                    lengths = torch.randint(steps // 4, steps + 1, (128,))
                    keys = torch.arange(steps)[None] < lengths[:, None]
                    upstream = torch.randn(128, steps, 132, dtype=dtype)
                    args = (qkv, keys, upstream, precision, grad)
                    fns = {
                        "PyTorch": functools.partial(
                            attention_step, mmcl_module.self_attention, *args
                        ),
                        "short": functools.partial(
                            attention_step, short_attention.attention, *args
                        ),
                    }
                    ms = alternating_ms(fns, repeats)
                    kind = "forward+backward" if grad else "forward, no grad"
                    print(
                        f"  {precision:<10}{kind:<18}{steps:>6}{ms['PyTorch']:>9.2f}"
                        f"{ms['short']:>8.2f}{ms['PyTorch'] / ms['short']:>7.2f}x",
                        flush=True,
                    )
    finally:
        use("short")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=7, help="alternating rounds timed")
    ap.add_argument("--steps", type=int, default=4, help="training steps per round and path")
    args = ap.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    attention_alone(4 * args.repeats)
    print("\n(2) MMCL bf16: training and inference samples/s, medians of alternating rounds")
    print(
        f"  {'row':<26}{'train':>8}{'':>8}{'':>8}{'infer':>9}{'':>8}{'':>8}{'max |diff|':>12}\n"
        f"  {'':<26}{'PyTorch':>8}{'short':>8}{'ratio':>8}{'PyTorch':>9}{'short':>8}{'ratio':>8}"
    )
    paths = {path: functools.partial(use, path) for path in ("PyTorch", "short")}
    try:
        for variant in ("reference", "corrected"):
            for ffn_dim in (2048, 512):
                line = alternating(variant, "bf16", ffn_dim, paths, args.steps, args.repeats)
                print(line, flush=True)
    finally:
        use("short")


if __name__ == "__main__":
    main()
