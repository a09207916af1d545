"""Multi-head self-attention for short sequences in bf16 on the CPU, straight from the packed
q/k/v projection.

At MMCL's 20 steps the attention's products are tiny (512 products of 20 x 33 by 33 x 20 per
layer at batch 128) and its time goes to moving tensors: PyTorch's attention, given q, k and
v as views of the packed projection, makes each contiguous, and its backward gathers their
gradients back through further copies; in bf16 its plain (math) kernel, which `kernels`
chooses for short sequences (its fused kernel's bf16 backward was slower still), adds
conversions and a check for fully masked rows on top. Here the packed projection
(B, L, 3 * d) is laid out as heads once, the products run on that layout, and the backward
writes the gradients of q, k and v into one tensor that is laid back once. Measured in
docs/performance.md@50f71fa sec. 10.

The arithmetic is scaled dot-product attention, softmax(q k^T / sqrt(d_head) + mask) v: the
products in the input's dtype (bf16 under autocast, whose casts they would get anyway), the
scores, their softmax and its backward in fp32 (in the input's dtype when that is wider: the
function takes any floating dtype, and the tests compare it with PyTorch's in float64).
"""

from __future__ import annotations

import torch

# sequences up to SHORT_STEPS take this path on the CPU: it holds the L x L scores per head
# (at 64 steps, batch 128 and 4 heads, 8 MB in fp32); longer ones keep PyTorch's fused kernel,
# which never holds them (docs/performance.md@50f71fa sec. 4)
from mmcl.models.base import SHORT_STEPS


def applies(qkv: torch.Tensor) -> bool:
    """Whether `attention` is the path for this projection (B, L, 3 * d): bf16 on the CPU, a
    short sequence, a non-empty batch. In fp32 the function was 0.94-1.19x PyTorch's fused
    kernel with gradients and 0.62-0.79x without (docs/performance.md@50f71fa sec. 10): fp32
    keeps the fused kernel."""
    return (
        qkv.device.type == "cpu"
        and qkv.dtype == torch.bfloat16
        and 0 < qkv.shape[1] <= SHORT_STEPS
        and qkv.shape[0] > 0
    )


def attention(qkv: torch.Tensor, heads: int, keys: torch.Tensor | None) -> torch.Tensor:
    """Self-attention (B, L, d) over the packed projection qkv (B, L, 3 * d), laid out as
    nn.MultiheadAttention's in_proj (q, k, v, each `heads` heads of d / heads), the heads'
    outputs concatenated as they come (no output projection). `keys` (B, L) marks the steps
    that may be attended to (every sample needs one; None: all)."""
    if keys is not None and bool(keys.all()):
        keys = None  # nothing to mask: skip the pass over the scores
    return _Attention.apply(qkv, heads, keys)


class _Attention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, qkv: torch.Tensor, heads: int, keys: torch.Tensor | None) -> torch.Tensor:
        b, length, packed = qkv.shape
        d = packed // 3
        head = d // heads
        # (3, B * heads, L, d_head): the one copy of the forward pass
        x = qkv.reshape(b, length, 3, heads, head).permute(2, 0, 3, 1, 4)
        x = x.reshape(3, b * heads, length, head)
        q, k, v = x.unbind(0)
        acc = torch.promote_types(qkv.dtype, torch.float32)  # fp32 for bf16, else its own
        scores = torch.bmm(q, k.transpose(1, 2)).to(acc).mul_(head**-0.5)
        if keys is not None:
            hidden = ~keys[:, None, None, :]  # (B, 1, 1, L)
            scores.view(b, heads, length, length).masked_fill_(hidden, float("-inf"))
        p_acc = torch.softmax(scores, dim=-1)
        p = p_acc.to(qkv.dtype)
        out = torch.bmm(p, v)  # (B * heads, L, d_head)
        ctx.save_for_backward(x, p_acc, p)
        ctx.shape = (b, length, heads, head)
        return out.view(b, heads, length, head).transpose(1, 2).reshape(b, length, d)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, p_acc, p = ctx.saved_tensors
        b, length, heads, head = ctx.shape
        q, k, v = x.unbind(0)
        g = grad.to(x.dtype).reshape(b, length, heads, head).transpose(1, 2)
        g = g.reshape(b * heads, length, head)
        dx = torch.empty_like(x)
        torch.bmm(p.transpose(1, 2), g, out=dx[2])  # dV
        dp = torch.bmm(g, v.transpose(1, 2)).to(p_acc.dtype)
        ds = torch.ops.aten._softmax_backward_data(dp, p_acc, -1, p_acc.dtype)
        ds = ds.mul_(head**-0.5).to(x.dtype)
        torch.bmm(ds, k, out=dx[0])  # dQ
        torch.bmm(ds.transpose(1, 2), q, out=dx[1])  # dK
        # back to the packed projection's layout: the one copy of the backward pass
        d_qkv = dx.view(3, b, heads, length, head).permute(1, 3, 0, 2, 4)
        return d_qkv.reshape(b, length, 3 * heads * head), None, None
