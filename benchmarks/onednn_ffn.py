"""The fp32 feed-forward's products by MKL (PyTorch's fp32 matmul on the CPU) or by oneDNN
(`mmcl.models.feed_forward`), at the MMCL reference code's IEMOCAP configuration (batch 128
x L = 20 = 2560 rows per modality in training, 256 x 20 at inference; d = 128, the critic's
layers 132 wide).

    .venv/bin/python benchmarks/onednn_ffn.py [--repeats 7] [--steps 4]

(0) the products alone, GFLOP/s (median): PyTorch's fp32 matmul (MKL) against oneDNN's
    linear, at the feed-forward's shapes in training (forward, input and weight gradients)
    and a 2048-cube product.
(1) linear2(relu(linear1(x))) alone, forward and backward, 2560 rows, 128 and 132 wide,
    feed-forward 2048 and 512: PyTorch's modules against the oneDNN function. Median ms.
(2) MMCL in fp32, samples/s: full training steps of the one trainer (the actor-critic update
    included) and inference (batch 256, no grad), with `EncoderLayer.feed_forward` as it
    was before (MKL; blocks of rows without gradients) and as it is now (oneDNN), alternating
    in one process so that the machine's drift hits both alike; and the largest difference
    between the two paths' predictions on one batch.
Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import functools

import torch
import torch.nn.functional as F
from anchor import alternating
from ffn_blocks import median_ms
from torch import nn

from mmcl.models import feed_forward as fast
from mmcl.models import mmcl as mmcl_module

ROWS = 2560


def mkl_feed_forward(self, x: torch.Tensor) -> torch.Tensor:
    """EncoderLayer.feed_forward before oneDNN (commit b9251c2)."""
    if torch.is_grad_enabled():
        return self.linear2(F.relu(self.linear1(x)))
    if x.device.type != "cpu" or torch.is_autocast_enabled(x.device.type):
        return self.linear2(self.linear1(x).relu_())
    rows = x.reshape(-1, x.shape[-1])
    blocks = [self.linear2(self.linear1(r).relu_()) for r in rows.split(mmcl_module.FFN_BLOCK_ROWS)]
    return torch.cat(blocks).view(x.shape)


ONEDNN_FEED_FORWARD = mmcl_module.EncoderLayer.feed_forward
PATHS = {"MKL": mkl_feed_forward, "oneDNN": ONEDNN_FEED_FORWARD}


def mkl(x: torch.Tensor, lin1: nn.Linear, lin2: nn.Linear) -> torch.Tensor:
    return lin2(F.relu(lin1(x)))


def onednn(x: torch.Tensor, lin1: nn.Linear, lin2: nn.Linear) -> torch.Tensor:
    return fast.feed_forward(x, lin1, lin2, mmcl_module.FFN_BLOCK_ROWS)


def forward_backward(ffn, x: torch.Tensor, lin1: nn.Linear, lin2: nn.Linear) -> None:
    ffn(x, lin1, lin2).sum().backward()


# (name, m, k, n, A transposed): the products C = A (m x k) @ B (k x n) of part (0)
PRODUCTS = (
    ("forward x @ W1.T", ROWS, 128, 2048, False),
    ("forward h @ W2.T", ROWS, 2048, 128, False),
    ("input grad gy @ W2", ROWS, 128, 2048, False),
    ("input grad gh @ W1", ROWS, 2048, 128, False),
    ("weight grad gy.T @ h", 128, ROWS, 2048, True),
    ("weight grad gh.T @ x", 2048, ROWS, 128, True),
    ("2048 cube", 2048, 2048, 2048, False),
)


def products_alone(repeats: int) -> None:
    print("(0) fp32 products alone: GFLOP/s (median)")
    print(f"  {'product':<24}{'m x k x n':>18}{'MKL':>8}{'oneDNN':>8}{'ratio':>8}")
    torch.manual_seed(0)
    for name, m, k, n, transposed in PRODUCTS:
        a = torch.randn(k, m).t() if transposed else torch.randn(m, k)
        b = torch.randn(k, n)
        flop = 2 * m * k * n / 1e6  # in MFLOP: / ms gives GFLOP/s
        mkl_rate = flop / median_ms(functools.partial(torch.matmul, a, b), repeats)
        dnn_rate = flop / median_ms(functools.partial(fast.linear, a, b.t(), None), repeats)
        print(
            f"  {name:<24}{f'{m} x {k} x {n}':>18}{mkl_rate:>8.0f}{dnn_rate:>8.0f}"
            f"{dnn_rate / mkl_rate:>7.2f}x",
            flush=True,
        )


def feed_forward_alone(repeats: int) -> None:
    print("(1) feed-forward alone, 2560 rows, forward + backward: median ms")
    print(f"  {'width':<8}{'hidden':>7}{'MKL':>9}{'oneDNN':>9}{'ratio':>8}")
    torch.manual_seed(0)
    for d in (128, 132):
        for hidden in (2048, 512):
            lin1, lin2 = nn.Linear(d, hidden), nn.Linear(hidden, d)
            x = torch.randn(ROWS, d, requires_grad=True)
            ms = {
                name: median_ms(functools.partial(forward_backward, ffn, x, lin1, lin2), repeats)
                for name, ffn in (("MKL", mkl), ("oneDNN", onednn))
            }
            print(
                f"  {d:<8}{hidden:>7}{ms['MKL']:>9.2f}{ms['oneDNN']:>9.2f}"
                f"{ms['MKL'] / ms['oneDNN']:>7.2f}x",
                flush=True,
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=7, help="alternating rounds timed")
    ap.add_argument("--steps", type=int, default=4, help="training steps per round and path")
    args = ap.parse_args()
    if fast.LINEAR is None:
        raise SystemExit("this PyTorch build has no oneDNN linear: nothing to compare")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    products_alone(4 * args.repeats)
    print()
    feed_forward_alone(2 * args.repeats)
    print("\n(2) MMCL fp32: training and inference samples/s, medians of alternating rounds")
    print(
        f"  {'row':<26}{'train':>8}{'':>8}{'':>8}{'infer':>9}{'':>8}{'':>8}{'max |diff|':>12}\n"
        f"  {'':<26}{'MKL':>8}{'oneDNN':>8}{'ratio':>8}{'MKL':>9}{'oneDNN':>8}{'ratio':>8}"
    )
    try:
        for variant, ffn_dim in (("reference", 2048), ("corrected", 2048), ("reference", 512)):
            paths = {
                path: functools.partial(setattr, mmcl_module.EncoderLayer, "feed_forward", fn)
                for path, fn in PATHS.items()
            }
            line = alternating(variant, "fp32", ffn_dim, paths, args.steps, args.repeats)
            print(line, flush=True)
    finally:
        mmcl_module.EncoderLayer.feed_forward = ONEDNN_FEED_FORWARD


if __name__ == "__main__":
    main()
