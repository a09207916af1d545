import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression, Ridge

from mmcl.data.batching import BatchSource
from mmcl.data.synthetic import SynthConfig, make_synthetic, parse_dims
from mmcl.errors import UserError


def _pooled(split, mods):
    """Masked mean over steps of each modality, concatenated."""
    cols = []
    for m in mods:
        x, lens = split.features[m], split.lengths[m]
        cols.append(x.sum(1) / lens[:, None])
    return np.concatenate(cols, axis=1)


def test_fusing_modalities_beats_any_single_modality():
    ds = make_synthetic(SynthConfig(n_train=800, n_valid=50, n_test=400, seed=0))
    tr, te = ds.splits["train"], ds.splits["test"]

    def mae(mods):
        model = Ridge(alpha=1.0).fit(_pooled(tr, mods), tr.labels)
        return np.mean(np.abs(model.predict(_pooled(te, mods)) - te.labels))

    fused = mae(ds.modalities)
    singles = {m: mae([m]) for m in ds.modalities}
    assert all(fused < 0.8 * s for s in singles.values()), (fused, singles)


def test_classification_signal_needs_fusion():
    ds = make_synthetic(SynthConfig(task="classification", n_train=900, n_test=400, seed=1))
    tr, te = ds.splits["train"], ds.splits["test"]

    def acc(mods):
        clf = LogisticRegression(max_iter=2000).fit(_pooled(tr, mods), tr.labels)
        return clf.score(_pooled(te, mods), te.labels)

    assert acc(ds.modalities) > max(acc([m]) for m in ds.modalities) + 0.05


def test_common_signal_only_in_chosen_modalities():
    cfg = SynthConfig(
        n_train=800, n_test=400, common_modalities=["audio", "vision"], w_specific=0.3
    )
    ds = make_synthetic(cfg)
    tr, te = ds.splits["train"], ds.splits["test"]
    r2 = {
        m: Ridge().fit(_pooled(tr, [m]), tr.labels).score(_pooled(te, [m]), te.labels)
        for m in ds.modalities
    }
    assert r2["audio"] > r2["text"] + 0.2 and r2["vision"] > r2["text"] + 0.2


def test_padding_is_zero_and_lengths_vary():
    ds = make_synthetic(SynthConfig(n_train=50, n_valid=5, n_test=5))
    sp = ds.splits["train"]
    lens = sp.lengths["audio"]
    assert lens.min() < lens.max() <= 12
    for i in range(len(sp)):
        assert not sp.features["audio"][i, lens[i] :].any()


def test_same_seed_same_data_and_batches_mask_padding():
    a = make_synthetic(SynthConfig(n_train=20, n_valid=5, n_test=5, seed=9))
    b = make_synthetic(SynthConfig(n_train=20, n_valid=5, n_test=5, seed=9))
    np.testing.assert_array_equal(
        a.splits["test"].features["text"], b.splits["test"].features["text"]
    )
    batch = next(BatchSource(a.splits["train"]).batches(8))
    lens = a.splits["train"].lengths["text"][:8]
    assert batch.features["text"].shape[:2] == (8, lens.max())
    assert batch.masks["text"].sum(1).tolist() == lens.tolist()


def test_parse_dims():
    assert parse_dims("t=300,a=74,v=35") == {"text": 300, "audio": 74, "vision": 35}
    with pytest.raises(UserError, match="NAME=WIDTH"):
        parse_dims("t=300,a")
