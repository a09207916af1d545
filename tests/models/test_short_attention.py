"""The short-sequence attention (models/short_attention.py) against PyTorch's
scaled_dot_product_attention: values and gradients, with and without padding, and where the
encoder layers take it."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mmcl.models import short_attention
from mmcl.models.base import arithmetic
from mmcl.models.mmcl import EncoderLayer, self_attention


def _pytorch(qkv, heads, keys):
    b, length, packed = qkv.shape
    d = packed // 3
    q, k, v = qkv.view(b, length, 3, heads, d // heads).permute(2, 0, 3, 1, 4).unbind(0)
    mask = None if keys is None else keys[:, None, None, :]
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    return out.transpose(1, 2).reshape(b, length, d)


def _keys(kind, b, length):
    if kind == "none":
        return None
    if kind == "all":
        return torch.ones(b, length, dtype=torch.bool)
    keys = torch.rand(b, length) > 0.4
    keys[:, 0] = True  # every sample has a step to attend to (models.base.attendable)
    return keys


@pytest.mark.parametrize("keys_kind", ["padded", "all", "none"])
def test_values_and_gradients_equal_pytorchs_in_float64(keys_kind):
    torch.manual_seed(0)
    b, length, heads, head = 5, 7, 3, 4
    qkv = torch.randn(b, length, 3 * heads * head, dtype=torch.float64, requires_grad=True)
    keys = _keys(keys_kind, b, length)
    upstream = torch.randn(b, length, heads * head, dtype=torch.float64)
    results = []
    for fn in (short_attention.attention, _pytorch):
        qkv.grad = None
        out = fn(qkv, heads, keys)
        (out * upstream).sum().backward()
        results.append((out.detach(), qkv.grad.clone()))
    (ours, g_ours), (theirs, g_theirs) = results
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(g_ours, g_theirs, rtol=1e-12, atol=1e-12)
    assert g_ours.abs().sum() > 0


def test_bf16_under_autocast_stays_close_to_the_exact_attention():
    """bf16 products, fp32 softmax: within bf16's rounding of the float64 result, and the
    gradient comes back in the projection's dtype."""
    torch.manual_seed(1)
    b, length, heads, head = 8, 20, 4, 8
    exact_in = torch.randn(b, length, 3 * heads * head, dtype=torch.float64)
    keys = _keys("padded", b, length)
    qkv = exact_in.to(torch.bfloat16).requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = short_attention.attention(qkv, heads, keys)
    out.float().sum().backward()
    assert out.dtype == torch.bfloat16 and qkv.grad.dtype == torch.bfloat16
    exact = _pytorch(qkv.detach().double(), heads, keys)
    torch.testing.assert_close(out.double(), exact, rtol=0.02, atol=0.02)


def test_which_inputs_take_the_path():
    x = torch.zeros(2, 20, 12, dtype=torch.bfloat16)
    assert short_attention.applies(x)
    assert not short_attention.applies(x.float())  # fp32 keeps PyTorch's fused kernel
    long = torch.zeros(2, short_attention.SHORT_STEPS + 1, 12, dtype=torch.bfloat16)
    assert not short_attention.applies(long)
    assert not short_attention.applies(x[:0])
    assert not short_attention.applies(torch.zeros(2, 0, 12, dtype=torch.bfloat16))


def test_self_attention_takes_the_path_only_where_it_applies(monkeypatch):
    calls = []
    real = short_attention.attention
    monkeypatch.setattr(
        short_attention, "attention", lambda *a: calls.append(a[0].dtype) or real(*a)
    )
    qkv, keys = torch.randn(3, 6, 12), _keys("padded", 3, 6)
    torch.testing.assert_close(self_attention(qkv, 2, keys), _pytorch(qkv, 2, keys))
    assert calls == []
    self_attention(qkv.bfloat16(), 2, keys)
    assert calls == [torch.bfloat16]


def test_the_encoder_layer_in_bf16_stays_close_to_pytorchs_layer():
    """Training pass in bf16 (autocast), padded: outputs and input gradients of our layer
    (which takes the short-sequence path) against nn.TransformerEncoderLayer's."""
    torch.manual_seed(0)
    ours = EncoderLayer(16, 2, 32)
    torch.manual_seed(0)
    theirs = nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, batch_first=True)
    x = torch.randn(4, 6, 16)
    pad = ~_keys("padded", 4, 6)
    upstream = torch.randn(4, 6, 16)
    results = []
    for layer in (ours, theirs):
        xi = x.clone().requires_grad_(True)
        with arithmetic(torch.device("cpu"), 6, "bf16"):
            y = layer(xi, src_key_padding_mask=pad)
        (y.float() * upstream * ~pad.unsqueeze(-1)).sum().backward()
        results.append((y.float(), xi.grad))
    (ya, ga), (yb, gb) = results
    torch.testing.assert_close(ya[~pad], yb[~pad], rtol=0.05, atol=0.05)
    torch.testing.assert_close(ga, gb, rtol=0.05, atol=0.05)
