"""Does torch.compile make MMCL's training step faster on this CPU? MMCL at the reference
code's IEMOCAP configuration (batch 128, L = 20, d = 128, 4 heads) with its forward pass and
its critic's (`MMCL.forward`, `Critic.forward`: the main model and the three critic passes of
each actor-critic update) compiled by torch.compile (inductor, default mode) against eager,
alternating in one process (`anchor.alternating`): training and inference samples/s, medians
of --repeats rounds, and the largest difference between the two paths' predictions.
Inference stays eager in both paths (a control: its ratio should be about 1): compiled, the
bf16 inference pass failed here (torch 2.13: PyTorch's fused encoder-layer kernel traced
under autocast, "expected m1 and m2 to have the same dtype").

    .venv/bin/python benchmarks/compile_mmcl.py [--repeats 5] [--steps 4]

The first round, which the medians leave out, includes the compilation; each row's whole
time, compilation included, follows it in brackets. Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import functools
import time

import torch
from anchor import alternating

from mmcl.models.mmcl import MMCL, Critic

ROWS = (("reference", "bf16", 512), ("reference", "bf16", 2048), ("reference", "fp32", 2048))
EAGER = {cls: cls.forward for cls in (MMCL, Critic)}


def use(table: dict) -> None:
    for cls, forward in table.items():
        cls.forward = forward


def in_training(compiled, eager):
    """A forward that runs `compiled` in training mode and `eager` otherwise."""

    def forward(self, *args, **kwargs):
        return (compiled if self.training else eager)(self, *args, **kwargs)

    return forward


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--steps", type=int, default=4, help="training steps per round")
    args = ap.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; samples/s")
    print(f"  {'row':<26}{'train':>8}{'':>15}{'infer':>9}{'':>15}{'max pred.':>12}")
    print(
        f"  {'':<26}{'eager':>8}{'comp.':>8}{'ratio':>7}"
        f"{'eager':>9}{'comp.':>8}{'ratio':>7}{'diff':>12}"
    )
    for variant, precision, ffn_dim in ROWS:
        torch._dynamo.reset()  # each row compiles afresh
        compiled = {cls: in_training(torch.compile(f), f) for cls, f in EAGER.items()}
        paths = {
            "eager": functools.partial(use, EAGER),
            "compiled": functools.partial(use, compiled),
        }
        start = time.perf_counter()
        line = alternating(variant, precision, ffn_dim, paths, args.steps, args.repeats)
        use(EAGER)
        print(f"{line}   ({time.perf_counter() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
