"""The Transformer feed-forward block, linear2(relu(linear1(x))), in fp32 on the CPU.

PyTorch multiplies fp32 matrices on the CPU with MKL; on this project's machines (AMD EPYC)
oneDNN, which PyTorch also ships (`torch.ops.mkldnn._linear_pointwise`, the kernel that
torch.compile's CPU backend calls), runs the feed-forward's products about 1.2-1.6x as fast
and applies the ReLU as the product writes its output, instead of in a pass of its own over
the ffn_dim-wide hidden activations (docs/performance.md@50f71fa sec. 9). Same arithmetic: fp32
products, only their summation order differs. One product, the first layer's weight gradient,
stays with MKL: oneDNN was slower there (its input is the hidden gradient transposed).

Used for the feed-forward only: it is most of a Transformer layer's FLOPs at MMCL's widths.
"""

from __future__ import annotations

import torch
from torch import nn


def _onednn_linear():
    """oneDNN's fused linear (+ pointwise op), or None when this PyTorch build lacks it."""
    if not torch.backends.mkldnn.is_available():
        return None
    try:
        return torch.ops.mkldnn._linear_pointwise.default
    except (AttributeError, RuntimeError):
        return None


LINEAR = _onednn_linear()


def applies(x: torch.Tensor) -> bool:
    """Whether `x` takes `feed_forward`: fp32 on the CPU, outside autocast, not empty
    (oneDNN refuses products over zero rows), not being traced by torch.compile (whose CPU
    backend lowers oneDNN's linear only for constant weights, and picks its own products),
    and something to gain: oneDNN's products where the build has them (`LINEAR`), otherwise
    PyTorch's in blocks of rows without gradients."""
    return (
        x.device.type == "cpu"
        and x.dtype == torch.float32
        and x.numel() > 0
        and not torch.is_autocast_enabled("cpu")
        and not torch.compiler.is_compiling()
        and (LINEAR is not None or not torch.is_grad_enabled())
    )


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, relu: bool = False):
    """x @ weight.T + bias (then ReLU) with oneDNN; x (N, in), weight (out, in)."""
    return LINEAR(x, weight, bias, "relu" if relu else "none", [None], "")


class FeedForwardFunction(torch.autograd.Function):
    """linear2(relu(linear1(x))) on 2-D x with its own backward pass, products by oneDNN."""

    @staticmethod
    def forward(ctx, x, w1, b1, w2, b2):
        hidden = linear(x, w1, b1, relu=True)
        ctx.save_for_backward(x, w1, w2, hidden)
        return linear(hidden, w2, b2)

    @staticmethod
    def backward(ctx, grad_out):
        x, w1, w2, hidden = ctx.saved_tensors
        need_x, need_w1, need_b1, need_w2, need_b2 = ctx.needs_input_grad
        grad_out = grad_out.contiguous()
        grad_x = grad_w1 = grad_b1 = grad_w2 = grad_b2 = None
        if need_w2:
            grad_w2 = linear(grad_out.t(), hidden.t(), None)  # grad_out.T @ hidden
        if need_b2:
            grad_b2 = grad_out.sum(0)
        if not (need_x or need_w1 or need_b1):
            return grad_x, grad_w1, grad_b1, grad_w2, grad_b2
        grad_hidden = linear(grad_out, w2.t(), None)  # grad_out @ w2
        # the ReLU's backward, as PyTorch computes it: zero where its output is not positive
        torch.ops.aten.threshold_backward.grad_input(
            grad_hidden, hidden, 0.0, grad_input=grad_hidden
        )
        if need_x:
            grad_x = linear(grad_hidden, w1.t(), None)  # grad_hidden @ w1
        if need_w1:
            grad_w1 = grad_hidden.t() @ x  # MKL: oneDNN was slower at this product
        if need_b1:
            grad_b1 = grad_hidden.sum(0)
        return grad_x, grad_w1, grad_b1, grad_w2, grad_b2


def feed_forward(
    x: torch.Tensor, linear1: nn.Linear, linear2: nn.Linear, block_rows: int
) -> torch.Tensor:
    """linear2(relu(linear1(x))) over x's last dimension, x fp32 on the CPU (`applies`).
    Without gradients nothing keeps the hidden activations, so blocks of `block_rows` rows
    go through both products in turn, the hidden block still in the caches (measured with
    MKL's products before oneDNN's: docs/performance.md@50f71fa sec. 8). Builds without oneDNN
    use PyTorch's products, in the same blocks."""
    rows = x.reshape(-1, x.shape[-1])
    w1, b1, w2, b2 = linear1.weight, linear1.bias, linear2.weight, linear2.bias
    if torch.is_grad_enabled():
        out = FeedForwardFunction.apply(rows, w1, b1, w2, b2)
    elif LINEAR is None:
        out = torch.cat([linear2(linear1(r).relu_()) for r in rows.split(block_rows)])
    else:
        blocks = [linear(linear(r, w1, b1, relu=True), w2, b2) for r in rows.split(block_rows)]
        out = torch.cat(blocks)
    return out.view(*x.shape[:-1], out.shape[-1])
