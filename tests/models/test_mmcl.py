import math

import pytest
import torch

from mmcl.data.batching import BatchSource
from mmcl.data.synthetic import SynthConfig, make_synthetic
from mmcl.errors import UserError
from mmcl.models.base import DataInfo
from mmcl.models.mmcl import MMCL, MMCLConfig, csd_best_match, csd_pairwise

E = math.e


def _softmax(xs):
    exps = [math.exp(x) for x in xs]
    return [e / sum(exps) for e in exps]


def _hand_case():
    # text steps are the unit vectors, so P @ Z_text = P
    z = {
        "text": torch.tensor([[[1.0, 0.0], [0.0, 1.0]]]),
        "audio": torch.tensor([[[1.0, 0.0], [1.0, 0.0]]]),
        "vision": torch.tensor([[[0.0, 1.0], [1.0, 0.0]]]),
    }
    masks = {m: torch.ones(1, 2, dtype=torch.bool) for m in z}
    # S_ta = [[1, 1], [0, 0]], S_tv = [[0, 1], [1, 0]] -> S_t = min = [[0, 1], [0, 0]]
    return z, masks, [[0.0, 1.0], [0.0, 0.0]]


def test_csd_pairwise_equals_hand_computed_reference_rule():
    z, masks, s_text = _hand_case()
    common, specific, weights = csd_pairwise(z, masks, "reference", temperature=1.0)
    p = [_softmax(row) for row in s_text]  # [[1/(1+e), e/(1+e)], [.5, .5]]
    assert p[0][0] == pytest.approx(1 / (1 + E))
    torch.testing.assert_close(weights["text"][0], torch.tensor(p))
    torch.testing.assert_close(common["text"][0], torch.tensor(p))
    q = [_softmax([1 - v for v in row]) for row in p]  # softmax_j(1 - P)
    torch.testing.assert_close(specific["text"][0], torch.tensor(q))
    # the reference "specific" part is nearly uniform: the flaw METHODS.md describes
    assert abs(q[0][0] - 0.5) < 0.12


def test_csd_pairwise_corrected_and_residual_rules():
    z, masks, s_text = _hand_case()
    tau = 0.5
    _, specific, weights = csd_pairwise(z, masks, "least_similar", temperature=tau)
    p = [_softmax([v / tau for v in row]) for row in s_text]
    q = [_softmax([-v / tau for v in row]) for row in s_text]
    torch.testing.assert_close(weights["text"][0], torch.tensor(p))
    torch.testing.assert_close(specific["text"][0], torch.tensor(q))
    common, specific, _ = csd_pairwise(z, masks, "residual", temperature=tau)
    torch.testing.assert_close(specific["text"], z["text"] - common["text"])


def test_csd_best_match_hand_case_and_length_one():
    z, masks, _ = _hand_case()
    common, _, weights = csd_best_match(z, masks, "least_similar", temperature=1.0)
    # text step 0 (1,0): best match in audio 1, in vision 1 -> score 1;
    # text step 1 (0,1): best match in audio 0, in vision 1 -> score 0
    w = _softmax([1.0, 0.0])
    torch.testing.assert_close(weights["text"][0], torch.tensor(w))
    torch.testing.assert_close(common["text"][0], torch.tensor([[2 * w[0], 0.0], [0.0, 2 * w[1]]]))
    # utterance-level input: one step, weights 1, common = specific = Z (CSD degenerates)
    z1 = {m: x[:, :1] for m, x in z.items()}
    m1 = {m: x[:, :1] for m, x in masks.items()}
    for fn in (csd_pairwise, csd_best_match):
        common, specific, _ = fn(z1, m1, "reference", 1.0)
        torch.testing.assert_close(common["text"], z1["text"])
        torch.testing.assert_close(specific["text"], z1["text"])


def _info(ds):
    return DataInfo(ds.dims(), ds.seq_lens(), ds.task)


@pytest.mark.parametrize(
    "options",
    [
        {"variant": "reference"},
        {"variant": "corrected"},
        {"variant": "corrected", "alignment": "best_match"},
        {"variant": "corrected", "csd": "learned", "cce": "maxpool", "fusion": "concat"},
    ],
)
def test_padding_changes_nothing(synth_regression, options):
    torch.manual_seed(0)
    model = MMCL(MMCLConfig(d_model=16, ffn_dim=32, **options), _info(synth_regression)).eval()
    batch = BatchSource(synth_regression.splits["test"]).batch(torch.arange(6))
    base = model(batch.features, batch.masks).preds
    pad = 3
    feats = {
        m: torch.cat([x, torch.randn(x.shape[0], pad, x.shape[2]) * 5], 1)
        for m, x in batch.features.items()
    }
    masks = {
        m: torch.cat([k, torch.zeros(k.shape[0], pad, dtype=torch.bool)], 1)
        for m, k in batch.masks.items()
    }
    torch.testing.assert_close(model(feats, masks).preds, base, atol=1e-5, rtol=1e-5)
    # ...and the padding really is read: unmasking it changes the output
    assert not torch.allclose(
        model(feats, {m: torch.ones_like(k) for m, k in masks.items()}).preds, base
    )


def test_unaligned_and_utterance_level_inputs_run():
    ds = make_synthetic(
        SynthConfig(n_train=16, n_valid=4, n_test=4, seq_len=1, dims={"text": 6, "audio": 3})
    )
    info = DataInfo(ds.dims(), {"text": 1, "audio": 1}, ds.task)
    model = MMCL(MMCLConfig(d_model=8, ffn_dim=16, n_heads=2), info)
    batch = BatchSource(ds.splits["train"]).batch(torch.arange(8))
    assert model(batch.features, batch.masks).preds.shape == (8,)
    info = DataInfo({"text": 6, "audio": 3}, {"text": 7, "audio": 3}, ds.task)
    model = MMCL(MMCLConfig(d_model=8, ffn_dim=16, n_heads=2), info)
    assert model.alignment == "best_match"
    feats = {"text": torch.randn(4, 7, 6), "audio": torch.randn(4, 3, 3)}
    masks = {
        "text": torch.ones(4, 7, dtype=torch.bool),
        "audio": torch.ones(4, 3, dtype=torch.bool),
    }
    out = model(feats, masks)
    assert out.preds.shape == (4,) and torch.isfinite(out.preds).all()
    with pytest.raises(UserError, match="pairwise' needs equal sequence lengths"):
        MMCL(MMCLConfig(alignment="pairwise", d_model=8, n_heads=2), info)


class _Recorder(torch.optim.SGD):
    """SGD that remembers the gradient norm it stepped with."""

    def step(self, closure=None):
        self.grad_norm = sum(
            float(p.grad.norm())
            for g in self.param_groups
            for p in g["params"]
            if p.grad is not None
        )
        return super().step(closure)


@pytest.mark.parametrize("variant", ["reference", "corrected"])
def test_actor_is_trained_by_the_critic_and_not_the_reverse(synth_iemocap, variant):
    torch.manual_seed(0)
    cfg = MMCLConfig(d_model=16, ffn_dim=32, variant=variant, ac_batch_size=8)
    model = MMCL(cfg, _info(synth_iemocap))
    groups = model.extra_param_groups()
    opts = {k: _Recorder(ps, lr=0.1) for k, ps in groups.items()}
    src = BatchSource(synth_iemocap.splits["train"])
    actor_before = [p.detach().clone() for p in groups["actor"]]
    logs = {}
    # updates start once the buffer holds more than 8 transitions: after the second batch,
    # the third for the reference variant (which needs the next batch to complete one)
    for i in range(3):
        batch = src.batch(torch.arange(i * 8, i * 8 + 8))
        logs = model.extra_update(batch, model(batch.features, batch.masks), opts)
    assert {"critic_loss", "actor_loss"} <= set(logs)
    assert opts["actor"].grad_norm > 0  # the only loss in extra_update reaching the actor is -Q
    assert any(not torch.equal(a, b) for a, b in zip(actor_before, groups["actor"], strict=True))
    # the actor's step leaves no gradient on the critic
    assert all(p.grad is None for p in groups["critic"])
    # the prediction loss is not the critic's business
    main = {id(p) for p in model.main_parameters()}
    assert not any(id(p) in main for p in groups["critic"])
    assert all(id(p) in main for p in groups["actor"])


def test_reward_is_true_class_probability_for_iemocap():
    from mmcl.models.base import true_label_reward

    logits = torch.zeros(1, 4, 2)
    logits[0, 0] = torch.tensor([0.0, math.log(3.0)])  # P(is Neutral) = 3/4
    labels = torch.tensor([[1, 0, 0, 0]])
    # 0.75 for Neutral + 0.5 for each of the other three
    assert float(true_label_reward(logits, labels, _info_iemocap().task)) == pytest.approx(
        0.75 + 1.5
    )


def _info_iemocap():
    ds = make_synthetic(SynthConfig(task="iemocap", n_train=4, n_valid=2, n_test=2))
    return _info(ds)
