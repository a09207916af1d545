"""The MMCL reference variant against the reference code (issue 13), and the corrected
variant's five changes as separate switches."""

import dataclasses
import math

import pytest
import torch
from torch import nn

from mmcl.data.batching import BatchSource
from mmcl.errors import UserError
from mmcl.models import feed_forward
from mmcl.models.base import DataInfo
from mmcl.models.mmcl import (
    MMCL,
    VARIANT_DEFAULTS,
    EncoderLayer,
    MMCLConfig,
    ReferenceAttentionBlock,
)
from mmcl.models.replay_buffer import ReplayBuffer

TINY = {"d_model": 8, "n_heads": 2, "ffn_dim": 16}


def _info(ds):
    return DataInfo(ds.dims(), ds.seq_lens(), ds.task)


def _opts(model):
    return {k: torch.optim.SGD(ps, lr=0.01) for k, ps in model.extra_param_groups().items()}


def _batches(ds, size, count):
    src = BatchSource(ds.splits["train"])
    return [src.batch(torch.arange(i * size, (i + 1) * size)) for i in range(count)]


def _fixed_gate(model, logit):
    """Every policy gives sigmoid(logit) on every step, whatever it sees."""
    with torch.no_grad():
        for policy in model.actors.policy.values():
            policy.weight.zero_()
            policy.bias.fill_(logit)


# -- replay buffer: what is stored, when sampling starts, how it draws ---------------------


def test_the_reference_buffer_holds_the_gated_states_the_actor_saw(synth_iemocap):
    torch.manual_seed(0)
    model = MMCL(MMCLConfig(variant="reference", ac_batch_size=4, **TINY), _info(synth_iemocap))
    _fixed_gate(model, 0.0)  # gate 0.5 on every valid step
    b1, b2 = _batches(synth_iemocap, 4, 2)
    model.train()
    out1 = model(b1.features, b1.masks)
    # the first step has no previous action: the actor sees its batch ungated
    for m, x in out1.specific.items():
        torch.testing.assert_close(out1.actor_state[m], x)
    model.extra_update(b1, out1, _opts(model))
    assert model.buffer.size == 0  # the transition waits for the next batch's state
    out2 = model(b2.features, b2.masks)
    model.extra_update(b2, out2, _opts(model))
    assert model.buffer.size == 4
    held = model.buffer.transitions()
    for m in out1.specific:
        gate = 0.5 * b1.masks[m].float()  # the first step's action
        # s' = the next batch's specific features gated by the current action
        expected_next = out2.specific[m].detach() * gate.unsqueeze(-1)
        torch.testing.assert_close(out2.actor_state[m].detach(), expected_next)
        # (batches are cut to their longest valid sequence; the buffer keeps the full length)
        n1, n2 = b1.masks[m].shape[1], b2.masks[m].shape[1]
        torch.testing.assert_close(held[f"next_state.{m}"][:4, :n2], expected_next)
        stored = held[f"state.{m}"][:4, :n1]
        torch.testing.assert_close(stored, out1.specific[m].detach())
        torch.testing.assert_close(held[f"action.{m}"][:4, :n1], gate)
    # the third transition's state is the second's next state: the chain the reference builds
    b3 = _batches(synth_iemocap, 4, 3)[2]
    model.extra_update(b3, model(b3.features, b3.masks), _opts(model))
    held = model.buffer.transitions()
    for m in out1.specific:
        torch.testing.assert_close(held[f"state.{m}"][4:8], held[f"next_state.{m}"][:4])


def test_with_ungated_actor_input_the_buffer_holds_ungated_states(synth_iemocap):
    torch.manual_seed(0)
    cfg = MMCLConfig(variant="reference", actor_input="ungated", ac_batch_size=4, **TINY)
    model = MMCL(cfg, _info(synth_iemocap))
    _fixed_gate(model, 0.0)
    model.train()
    outs = []
    for b in _batches(synth_iemocap, 4, 2):
        outs.append(model(b.features, b.masks))
        model.extra_update(b, outs[-1], _opts(model))
    for m, x in outs[1].specific.items():
        stored = model.buffer.transitions()[f"next_state.{m}"][:4, : x.shape[1]]
        torch.testing.assert_close(stored, x.detach())


def test_replay_draws_without_replacement():
    buf = ReplayBuffer(capacity=50, seq_lens={"text": 2}, d=3, bootstrap=False)
    buf.push(
        {
            "reward": torch.arange(10.0),
            "state.text": torch.randn(10, 2, 3),
            "mask.text": torch.ones(10, 2, dtype=torch.bool),
            "action.text": torch.rand(10, 2),
        }
    )
    torch.manual_seed(0)
    for _ in range(20):
        drawn = buf.sample(6)["reward"]
        assert len(set(drawn.tolist())) == 6
    assert sorted(buf.sample(10)["reward"].tolist()) == list(range(10))
    assert len(buf.sample(25)["reward"]) == 10  # never more than it holds


@pytest.mark.parametrize("variant", ["reference", "corrected"])
def test_actor_critic_updates_start_once_the_buffer_holds_more_than_a_batch(synth_iemocap, variant):
    torch.manual_seed(0)
    model = MMCL(MMCLConfig(variant=variant, ac_batch_size=8, **TINY), _info(synth_iemocap))
    model.train()
    critic_before = [p.detach().clone() for p in model.critic.parameters()]
    logs = []
    for b in _batches(synth_iemocap, 8, 3):
        logs.append(model.extra_update(b, model(b.features, b.masks), _opts(model)))
    # 8 transitions (after the first batch; the second for the reference variant, whose
    # transitions wait for the next state) are not yet more than one batch of 8
    first = 2 if variant == "reference" else 1
    assert all(log == {} for log in logs[:first])
    assert "critic_loss" in logs[first]
    assert any(
        not torch.equal(a, b) for a, b in zip(critic_before, model.critic.parameters(), strict=True)
    )


# -- the reference's layers ------------------------------------------------------------------


def test_the_reference_attention_block_has_no_output_projection():
    d, heads = 4, 2
    block = ReferenceAttentionBlock(d, heads)
    # in-projection 3 (d x d + d), Linear d x d + d, LayerNorm 2 d: no output projection
    assert sum(p.numel() for p in block.parameters()) == 3 * (d * d + d) + (d * d + d) + 2 * d
    torch.manual_seed(0)
    x = torch.randn(2, 3, d)
    mask = torch.tensor([[True, True, False], [True, True, True]])
    q, k, v = block.qkv(x).split(d, dim=-1)
    ctx = torch.zeros(2, 3, d)
    for h in range(heads):  # each head's attention by hand, concatenated as it comes
        cols = slice(h * 2, h * 2 + 2)
        scores = q[..., cols] @ k[..., cols].transpose(1, 2) / math.sqrt(2)
        scores = scores.masked_fill(~mask[:, None, :], float("-inf"))
        ctx[..., cols] = scores.softmax(-1) @ v[..., cols]
    expected = block.norm(ctx + block.linear(ctx))
    torch.testing.assert_close(block(x, mask), expected)
    # a sample without a valid step gives numbers, not NaN
    assert torch.isfinite(block(x, torch.zeros(2, 3, dtype=torch.bool))).all()


def test_the_encoder_layer_trains_with_pytorchs_arithmetic():
    """The written-out training pass equals nn.TransformerEncoderLayer's, values and
    gradients, with padding; inference is PyTorch's own path."""
    torch.manual_seed(0)
    ours = EncoderLayer(8, 2, 16)
    torch.manual_seed(0)
    theirs = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    for a, b in zip(ours.parameters(), theirs.parameters(), strict=True):
        assert torch.equal(a, b)  # PyTorch's initialisation, drawn in the same order
    x = torch.randn(3, 5, 8)
    pad = torch.tensor([[False] * 5, [False, False, False, True, True], [False] * 4 + [True]])
    outs = []
    for layer in (ours, theirs):
        layer.train()
        xi = x.clone().requires_grad_(True)
        y = layer(xi, src_key_padding_mask=pad)
        (y * ~pad.unsqueeze(-1)).square().sum().backward()
        outs.append((y, xi.grad, [p.grad for p in layer.parameters()]))
    (ya, gxa, gpa), (yb, gxb, gpb) = outs
    valid = ~pad
    torch.testing.assert_close(ya[valid], yb[valid])
    torch.testing.assert_close(gxa, gxb)
    for a, b in zip(gpa, gpb, strict=True):
        torch.testing.assert_close(a, b)
    # a sample without a valid step gives numbers, not NaN
    assert torch.isfinite(ours(x, src_key_padding_mask=torch.ones(3, 5, dtype=torch.bool))).all()
    ours.eval()
    with torch.no_grad():
        torch.testing.assert_close(ours(x)[valid], theirs.eval()(x)[valid])


@pytest.mark.skipif(
    feed_forward.LINEAR is None,
    reason="the blocks go through oneDNN, which this PyTorch build lacks",
)
def test_the_encoder_layer_without_gradients_blocks_rows(monkeypatch):
    """Without gradients (inference, the target critic) the fp32 feed-forward runs in blocks
    of rows, a last partial block included: the same numbers as PyTorch's layer."""
    import mmcl.models.mmcl as mmcl_module

    monkeypatch.setattr(mmcl_module, "FFN_BLOCK_ROWS", 4)  # 3 x 5 rows: blocks of 4, 4, 4, 3
    rows, onednn = [], feed_forward.LINEAR

    def counted(x, w, b, attr, scalars, algorithm):
        if attr == "relu":  # the first product of each block
            rows.append(x.shape[0])
        return onednn(x, w, b, attr, scalars, algorithm)

    monkeypatch.setattr(feed_forward, "LINEAR", counted)
    torch.manual_seed(0)
    ours = EncoderLayer(8, 2, 16)
    torch.manual_seed(0)
    theirs = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
    x = torch.randn(3, 5, 8)
    pad = torch.tensor([[False] * 5, [False, False, False, True, True], [False] * 4 + [True]])
    valid = ~pad
    for train in (True, False):  # the target critic runs without gradients in train mode
        ours.train(train), theirs.train(train)
        rows.clear()
        with torch.no_grad():
            torch.testing.assert_close(
                ours(x, src_key_padding_mask=pad)[valid], theirs(x, src_key_padding_mask=pad)[valid]
            )
        assert rows == [4, 4, 4, 3]


def test_without_onednn_the_feed_forward_keeps_its_blocks(monkeypatch):
    """A PyTorch build without oneDNN runs the fp32 feed-forward with PyTorch's products,
    whole with gradients and in blocks of rows without: the same numbers as PyTorch's layer."""
    import mmcl.models.mmcl as mmcl_module

    monkeypatch.setattr(mmcl_module, "FFN_BLOCK_ROWS", 4)
    monkeypatch.setattr(feed_forward, "LINEAR", None)
    torch.manual_seed(0)
    ours = EncoderLayer(8, 2, 16)
    torch.manual_seed(0)
    theirs = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
    rows = []
    ours.linear1.register_forward_hook(lambda mod, args, out: rows.append(args[0].shape[0]))
    x = torch.randn(3, 5, 8)
    pad = torch.tensor([[False] * 5, [False, False, False, True, True], [False] * 4 + [True]])
    valid = ~pad
    with torch.no_grad():
        expected = theirs(x, src_key_padding_mask=pad)[valid]
        torch.testing.assert_close(ours(x, src_key_padding_mask=pad)[valid], expected)
    assert rows == [4, 4, 4, 3]
    rows.clear()
    xi = x.clone().requires_grad_(True)
    out = ours(xi, src_key_padding_mask=pad)
    out[valid].sum().backward()
    torch.testing.assert_close(out[valid], expected)
    assert rows == [3] and xi.grad is not None  # whole: (3, 5, 8) in one call


def test_critic_head_fusion_gate_and_independent_targets(synth_iemocap):
    torch.manual_seed(0)
    model = MMCL(MMCLConfig(variant="reference", **TINY), _info(synth_iemocap))
    kinds = [type(layer) for layer in model.critic.head]
    assert kinds == [nn.Linear, nn.Linear, nn.Dropout, nn.ReLU, nn.BatchNorm1d, nn.Linear]
    assert model.critic.head[2].p == 0.5  # the model's dropout, as in the reference
    for gate in model.fusion_gate.values():
        assert [type(layer) for layer in gate] == [nn.Linear, nn.Linear]
    # the target networks start from their own initialisation, not from copies
    for target, online in (
        (model.critic_target, model.critic),
        (model.actors_target, model.actors),
    ):
        pairs = zip(target.parameters(), online.parameters(), strict=True)
        assert any(p.numel() > 1 and not torch.equal(t, p) for t, p in pairs)


def test_ac_batch_size_below_two_is_refused(synth_iemocap):
    with pytest.raises(UserError, match="mmcl.ac_batch_size"):
        MMCL(MMCLConfig(ac_batch_size=1, **TINY), _info(synth_iemocap))


# -- the corrected variant's changes, one switch each ----------------------------------------

# switch -> (its corrected value, state-dict prefixes it may add, remove or reshape)
SWITCHES = {
    "specific": ("least_similar", ()),
    "csd_temperature": (0.2, ()),
    "critic_target": ("reward", ("actors_target.", "critic_target.")),
    "actor_input": ("ungated", ()),
    "cce_block": ("transformer", ("cce.",)),
}


def test_the_switches_are_the_corrected_variants_differences():
    reference, corrected = MMCLConfig(variant="reference"), MMCLConfig(variant="corrected")
    assert set(SWITCHES) == {*VARIANT_DEFAULTS, "csd_temperature"}
    for switch, (value, _) in SWITCHES.items():
        if switch == "csd_temperature":
            assert (reference.temperature, corrected.temperature) == (1.0, value)
        else:
            assert (reference.resolved(switch), corrected.resolved(switch)) == (
                VARIANT_DEFAULTS[switch][0],
                value,
            )
    # every switch set to the corrected value turns the reference variant into it
    everything = MMCLConfig(variant="reference", **{k: v for k, (v, _) in SWITCHES.items()})
    for switch in VARIANT_DEFAULTS:
        assert everything.resolved(switch) == corrected.resolved(switch)
    assert everything.temperature == corrected.temperature


def _twins(ds, switch, value):
    """The reference variant and the same with one switch flipped, sharing every weight the
    switch does not name."""
    cfg = MMCLConfig(variant="reference", ac_batch_size=4, **TINY)
    torch.manual_seed(0)
    base = MMCL(cfg, _info(ds))
    torch.manual_seed(1)
    other = MMCL(dataclasses.replace(cfg, **{switch: value}), _info(ds))
    theirs = other.state_dict()
    shared = {
        k: v for k, v in base.state_dict().items() if k in theirs and theirs[k].shape == v.shape
    }
    other.load_state_dict(shared, strict=False)
    return base, other


def _pieces(model, batch):
    """CSD's parts, the CCE embeddings and the prediction of an evaluation pass."""
    model.eval()
    with torch.no_grad():
        z = {m: model.proj[m](x) * batch.masks[m].unsqueeze(-1) for m, x in batch.features.items()}
        common, specific, _, _ = model.decouple(z, batch.masks)
        cce = {m: model.cce[m](common[m], batch.masks[m]) for m in z}
        preds = model(batch.features, batch.masks).preds
    return {"common": common, "specific": specific, "cce": cce, "preds": preds}


# what each switch changes in an evaluation pass (the others change only training)
CHANGES = {
    "specific": {"specific", "preds"},
    "csd_temperature": {"common", "specific", "cce", "preds"},  # P feeds both parts
    "critic_target": set(),
    "actor_input": set(),
    "cce_block": {"cce", "preds"},
}


@pytest.mark.parametrize("switch", sorted(SWITCHES))
def test_each_switch_changes_only_what_it_names(synth_iemocap, switch):
    value, prefixes = SWITCHES[switch]
    base, other = _twins(synth_iemocap, switch, value)
    # parameters: only those under the switch's prefixes differ
    a, b = base.state_dict(), other.state_dict()
    differing = {
        k for k in a.keys() | b.keys() if k not in a or k not in b or a[k].shape != b[k].shape
    }
    assert all(k.startswith(prefixes) for k in differing) if prefixes else not differing
    if prefixes:
        assert differing
    # an evaluation pass: exactly the named pieces change
    batch = _batches(synth_iemocap, 6, 1)[0]
    pa, pb = _pieces(base, batch), _pieces(other, batch)
    for piece in pa:
        same = all(
            torch.allclose(x, y)
            for x, y in (
                zip(pa[piece].values(), pb[piece].values(), strict=True)
                if isinstance(pa[piece], dict)
                else [(pa[piece], pb[piece])]
            )
        )
        assert same == (piece not in CHANGES[switch]), piece
    # training: the critic target and the actor's input show where they act
    if switch == "critic_target":
        assert base.bootstrap and not other.bootstrap
        assert base.buffer.bootstrap and not other.buffer.bootstrap
    if switch == "actor_input":
        for model in (base, other):
            model.train()
            _fixed_gate(model, 0.0)
        b1, b2 = _batches(synth_iemocap, 4, 2)
        for model in (base, other):
            model.extra_update(b1, model(b1.features, b1.masks), _opts(model))
        ob, oo = base(b2.features, b2.masks), other(b2.features, b2.masks)
        for m in ob.specific:
            gate = 0.5 * b1.masks[m].float().unsqueeze(-1)
            torch.testing.assert_close(ob.actor_state[m], ob.specific[m] * gate)
            torch.testing.assert_close(oo.actor_state[m], oo.specific[m])
