"""Property tests (hypothesis) of the pieces everything else rests on."""

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mmcl.evaluation.metrics import evaluate
from mmcl.models.base import masked_mean
from mmcl.models.layers import coral_loss
from mmcl.models.mmcl import csd_best_match, csd_pairwise

lengths = st.lists(st.integers(1, 6), min_size=1, max_size=5)


@settings(max_examples=40, deadline=None)
@given(lengths, st.integers(0, 2**31 - 1))
def test_masked_mean_ignores_padding(lens, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(len(lens), 6, 3, generator=g)
    mask = torch.arange(6)[None, :] < torch.tensor(lens)[:, None]
    expected = torch.stack([x[i, :n].mean(0) for i, n in enumerate(lens)])
    torch.testing.assert_close(masked_mean(x, mask), expected)


@settings(max_examples=30, deadline=None)
@given(lengths, st.integers(0, 2**31 - 1), st.sampled_from(["reference", "least_similar"]))
def test_csd_weights_are_distributions_over_valid_steps(lens, seed, rule):
    g = torch.Generator().manual_seed(seed)
    b = len(lens)
    mask = torch.arange(6)[None, :] < torch.tensor(lens)[:, None]
    z = {m: torch.randn(b, 6, 4, generator=g) * mask[..., None] for m in ("t", "a", "v")}
    masks = dict.fromkeys(z, mask)
    _, _, p = csd_pairwise(z, masks, rule, 0.5)
    torch.testing.assert_close(p["t"].sum(-1), torch.ones(b, 6))
    assert (p["t"][~mask[:, None, :].expand(-1, 6, -1)] == 0).all()
    _, _, w = csd_best_match(z, masks, rule, 0.5)
    torch.testing.assert_close(w["a"].sum(-1), torch.ones(b))
    assert (w["a"][~mask] == 0).all()


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 12), st.integers(1, 5), st.integers(0, 2**31 - 1))
def test_coral_is_symmetric_nonnegative_and_shift_invariant(n, d, seed):
    g = torch.Generator().manual_seed(seed)
    hx, hy = torch.randn(n, d, generator=g), torch.randn(n, d, generator=g)
    loss = float(coral_loss(hx, hy))
    assert loss >= 0
    assert abs(loss - float(coral_loss(hy, hx))) < 1e-6
    assert abs(loss - float(coral_loss(hx + 5.0, hy))) < 1e-4 * max(1.0, loss)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-3, 3, allow_nan=False), min_size=2, max_size=30))
def test_perfect_predictions_score_perfectly(values):
    y = np.array(values)
    m = evaluate("mosi", y, y)
    assert m["Has0_acc_2"] == 1.0 and m["Mult_acc_7"] == 1.0 and m["MAE"] == 0.0
    if (y != 0).any():
        assert m["Non0_acc_2"] == 1.0
