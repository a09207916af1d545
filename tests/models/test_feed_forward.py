"""The fp32 CPU feed-forward through oneDNN: PyTorch's numbers, values and gradients."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import mmcl.models.feed_forward as ff

pytestmark = pytest.mark.skipif(ff.LINEAR is None, reason="this PyTorch build has no oneDNN")


def _grads(fn, x, layers):
    for p in [x, *(q for layer in layers for q in layer.parameters())]:
        p.grad = None
    y = fn(x)
    (y * torch.linspace(-1, 1, y.shape[-1])).square().sum().backward()
    params = [q.grad for layer in layers for q in layer.parameters()]
    return y.detach(), x.grad, params


def test_values_and_gradients_are_pytorchs():
    torch.manual_seed(0)
    l1, l2 = nn.Linear(6, 24), nn.Linear(24, 6)
    x = torch.randn(3, 7, 6, requires_grad=True)
    ours = _grads(lambda t: ff.feed_forward(t, l1, l2, block_rows=4), x, (l1, l2))
    theirs = _grads(lambda t: l2(F.relu(l1(t))), x, (l1, l2))
    assert ours[0].shape == (3, 7, 6)
    torch.testing.assert_close(ours[0], theirs[0])
    torch.testing.assert_close(ours[1], theirs[1])
    for a, b in zip(ours[2], theirs[2], strict=True):
        torch.testing.assert_close(a, b)
    with torch.no_grad():  # the blocked path, a partial last block (21 rows in blocks of 4)
        torch.testing.assert_close(ff.feed_forward(x, l1, l2, block_rows=4), theirs[0])


def test_frozen_weights_get_no_gradient_and_the_input_still_does():
    """As in the actor's step through the critic: only the input needs a gradient."""
    torch.manual_seed(1)
    l1, l2 = nn.Linear(5, 12).requires_grad_(False), nn.Linear(12, 5).requires_grad_(False)
    x = torch.randn(4, 5, requires_grad=True)
    ff.feed_forward(x, l1, l2, block_rows=8).sum().backward()
    expected = torch.autograd.grad(l2(F.relu(l1(x))).sum(), x)[0]
    torch.testing.assert_close(x.grad, expected)
    assert all(p.grad is None for p in (*l1.parameters(), *l2.parameters()))


def test_only_fp32_on_the_cpu_outside_autocast_takes_it():
    x = torch.randn(2, 3)
    assert ff.applies(x)
    assert not ff.applies(x.bfloat16())
    assert not ff.applies(torch.randn(0, 3))  # oneDNN refuses products over zero rows
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not ff.applies(x)


def test_an_encoder_layer_compiled_by_torch_compile_trains_as_eager():
    """torch.compile traces the layer with PyTorch's products (its CPU backend cannot lower
    oneDNN's linear with trainable weights: the training step failed to compile before)."""
    from mmcl.models.mmcl import EncoderLayer

    torch.manual_seed(2)
    layer = EncoderLayer(8, 2, 16).train()
    x = torch.randn(2, 5, 8)
    eager = _grads(layer, x.clone().requires_grad_(True), (layer,))
    compiled = _grads(torch.compile(layer), x.clone().requires_grad_(True), (layer,))
    torch.testing.assert_close(compiled[0], eager[0])
    torch.testing.assert_close(compiled[1], eager[1])
    for a, b in zip(compiled[2], eager[2], strict=True):
        torch.testing.assert_close(a, b)


def test_a_strided_input_and_an_empty_batch_train_through_the_layer():
    from mmcl.models.mmcl import EncoderLayer

    layer = EncoderLayer(8, 2, 16).train()
    strided = torch.randn(3, 10, 8)[:, ::2].requires_grad_(True)  # not contiguous
    layer(strided).sum().backward()
    assert strided.grad.shape == (3, 5, 8) and torch.isfinite(strided.grad).all()
    empty = torch.randn(0, 5, 8, requires_grad=True)
    layer(empty).sum().backward()
    assert empty.grad.shape == (0, 5, 8)


def test_the_encoder_layers_training_pass_uses_it(monkeypatch):
    """The fast path is really taken in training (a silent fall-back would keep the numbers
    and lose the speed)."""
    from mmcl.models.mmcl import EncoderLayer

    calls, onednn = [], ff.LINEAR
    monkeypatch.setattr(ff, "LINEAR", lambda *a: calls.append(a[3]) or onednn(*a))
    layer = EncoderLayer(8, 2, 16).train()
    layer(torch.randn(2, 3, 8, requires_grad=True)).sum().backward()
    assert calls.count("relu") == 1 and calls.count("none") >= 3  # forward, and its backward
