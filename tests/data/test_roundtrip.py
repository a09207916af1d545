import numpy as np
import pytest

from mmcl.data.csd import mosi_folds
from mmcl.data.loader import load_dataset
from mmcl.data.native import write_native
from mmcl.data.pickles import write_mmsa, write_mult
from mmcl.data.synthetic import SynthConfig, make_synthetic
from mmcl.errors import UserError


def _same(a, b, check_lengths=True):
    assert a.modalities == b.modalities
    assert a.task == b.task
    for s in ("train", "valid", "test"):
        x, y = a.splits[s], b.splits[s]
        for m in a.modalities:
            np.testing.assert_array_equal(x.features[m], y.features[m])
            if check_lengths:
                np.testing.assert_array_equal(x.lengths[m], y.lengths[m])
        np.testing.assert_array_equal(x.labels, y.labels)
        np.testing.assert_array_equal(x.ids, y.ids)


@pytest.mark.parametrize("task", ["regression", "iemocap", "classification"])
def test_native_roundtrip(tmp_path, task):
    ds = make_synthetic(SynthConfig(task=task, n_train=30, n_valid=10, n_test=10, seed=3))
    write_native(ds, tmp_path / "nat")
    _same(ds, load_dataset(tmp_path / "nat"))


def test_native_roundtrip_keeps_unimodal_labels_and_any_modality_names(tmp_path):
    cfg = SynthConfig(
        n_train=20, n_valid=5, n_test=5, dims={"x1": 3, "gaze": 2}, unimodal_labels=True
    )
    ds = make_synthetic(cfg)
    write_native(ds, tmp_path / "nat")
    back = load_dataset(tmp_path / "nat")
    _same(ds, back)
    assert back.modalities == ["x1", "gaze"]
    np.testing.assert_array_equal(
        back.splits["train"].unimodal_labels["gaze"], ds.splits["train"].unimodal_labels["gaze"]
    )


def test_mmsa_roundtrip(tmp_path):
    ds = make_synthetic(SynthConfig(n_train=30, n_valid=10, n_test=10, unimodal_labels=True))
    write_mmsa(ds, tmp_path / "aligned_50.pkl")
    back = load_dataset(tmp_path / "aligned_50.pkl")
    _same(ds, back)
    assert back.preset == "mosi"  # labels span [-3, 3]
    np.testing.assert_array_equal(
        back.splits["test"].unimodal_labels["audio"], ds.splits["test"].unimodal_labels["audio"]
    )


def test_mult_roundtrip_regression_and_iemocap(tmp_path):
    for task in ("regression", "iemocap"):
        ds = make_synthetic(SynthConfig(task=task, n_train=30, n_valid=10, n_test=10))
        write_mult(ds, tmp_path / f"{task}.pkl")
        back = load_dataset(tmp_path / f"{task}.pkl")
        # MulT stores no lengths: features, labels and ids come back, every step counts
        _same(ds, back, check_lengths=False)
        assert (back.splits["train"].lengths["text"] == 12).all()
    assert back.preset == "iemocap"


def test_csd_folder_aligns_frames_to_segments_with_mosi_folds(tmp_path, write_csd):
    folds = mosi_folds()
    vids = {"train": folds["train"][0], "valid": folds["valid"][0], "test": folds["test"][0]}
    labels, audio = {}, {}
    for i, vid in enumerate(vids.values()):
        # two segments: [0, 2) and [2, 3) seconds
        labels[vid] = (
            np.array([[1.5], [-0.5 - i]], dtype=np.float32),
            np.array([[0, 2], [2, 3]], float),
        )
        # audio frames every 0.5 s with a value equal to the frame number
        t = np.arange(0, 3, 0.5)
        audio[vid] = (
            np.arange(len(t), dtype=np.float32)[:, None] * [1, 10],
            np.stack([t, t + 0.5], 1),
        )
    write_csd(tmp_path / "CMU_MOSI_Opinion_Labels.csd", "Opinion Segment Labels", labels)
    write_csd(tmp_path / "CMU_MOSI_COVAREP.csd", "COVAREP", audio)
    ds = load_dataset(tmp_path)
    assert ds.modalities == ["audio"]
    tr = ds.splits["train"]
    assert list(tr.ids) == [f"{vids['train']}_1", f"{vids['train']}_2"]
    np.testing.assert_array_equal(tr.lengths["audio"], [4, 2])
    np.testing.assert_array_equal(tr.features["audio"][0, :, 0], [0, 1, 2, 3])
    np.testing.assert_array_equal(tr.features["audio"][1, :2, 1], [40, 50])
    assert tr.features["audio"][1, 2:].sum() == 0  # padding
    np.testing.assert_allclose(ds.splits["test"].labels, [1.5, -2.5])


def test_csd_folder_of_unknown_videos_needs_folds(tmp_path, write_csd):
    seq = {"vidA": (np.ones((1, 1), np.float32), np.array([[0.0, 1.0]]))}
    write_csd(tmp_path / "l.csd", "My Labels", seq)
    write_csd(tmp_path / "f.csd", "FACET", seq)
    with pytest.raises(UserError, match="folds.json"):
        load_dataset(tmp_path)


def test_csd_segments_are_capped_with_a_warning_unless_asked(csd_folder):
    full = load_dataset(csd_folder, csd_max_len=None)
    frames = full.seq_lens()["audio"]
    assert frames > 5  # the fixture's segments hold more frames than the cap below
    with pytest.warns(UserWarning, match=f"segments longer than 5 frames \\(up to {frames}\\)"):
        capped = load_dataset(csd_folder, csd_max_len=5)
    assert capped.seq_lens()["audio"] == 5
    np.testing.assert_array_equal(
        capped.splits["train"].features["audio"], full.splits["train"].features["audio"][:, :5]
    )
