"""MFN / Graph-MFN feature folders (one HDF5 file per array and split), written in the test."""

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from mmcl.cli import app
from mmcl.data.dataset import DataError
from mmcl.data.loader import load_dataset

runner = CliRunner()
SIZES = {"train": 24, "valid": 8, "test": 8}


def _h5(path, array):
    with h5py.File(path, "w") as f:
        f.create_dataset("d1", data=array)


def _mfn_folder(folder, k=1, seed=0):
    """audio (N, 5, 3), video (N, 5, 2), text_emb (N, 5, 4), y (N, k), all float64."""
    rng = np.random.default_rng(seed)
    folder.mkdir()
    arrays = {}
    for s, n in SIZES.items():
        for stem, d in (("audio", 3), ("video", 2), ("text_emb", 4)):
            arrays[f"{stem}_{s}"] = rng.normal(size=(n, 5, d))
            _h5(folder / f"{stem}_{s}.h5", arrays[f"{stem}_{s}"])
        arrays[f"y_{s}"] = rng.uniform(1, 5, size=(n, k))
        _h5(folder / f"y_{s}.h5", arrays[f"y_{s}"])
    return arrays


def test_mfn_folder_is_read_by_content_with_its_arrays(tmp_path):
    arrays = _mfn_folder(tmp_path / "mfn")
    ds = load_dataset(tmp_path / "mfn")
    assert ds.dims() == {"audio": 3, "vision": 2, "text": 4}
    assert {s: len(sp) for s, sp in ds.splits.items()} == SIZES
    np.testing.assert_allclose(ds.splits["test"].features["vision"], arrays["video_test"], 1e-6)
    np.testing.assert_allclose(ds.splits["train"].labels, arrays["y_train"][:, 0], 1e-6)


def test_multi_column_labels_need_a_column_choice(tmp_path):
    arrays = _mfn_folder(tmp_path / "pom", k=3)
    with pytest.raises(DataError, match="labels have 3 columns; choose one with --label-column"):
        load_dataset(tmp_path / "pom")
    ds = load_dataset(tmp_path / "pom", label_column=2)
    np.testing.assert_allclose(ds.splits["valid"].labels, arrays["y_valid"][:, 2], 1e-6)
    with pytest.raises(DataError, match="has label columns 0..2"):
        load_dataset(tmp_path / "pom", label_column=3)


def test_one_mfn_file_names_its_format_instead_of_a_numpy_error(tmp_path):
    _mfn_folder(tmp_path / "mfn")
    r = runner.invoke(app, ["data", "inspect", str(tmp_path / "mfn" / "audio_train.h5")])
    assert r.exit_code == 2 and "MFN/Graph-MFN" in r.output and "Traceback" not in r.output
    # the same file in a folder of .csd files: a clear error, not numpy's ambiguous truth value
    folder = tmp_path / "csd"
    folder.mkdir()
    (folder / "labels.csd").write_bytes((tmp_path / "mfn" / "y_train.h5").read_bytes())
    r = runner.invoke(app, ["data", "inspect", str(folder)])
    assert r.exit_code == 2 and "not a computational sequence" in r.output


def test_mfn_folder_inspects_converts_and_trains(tmp_path):
    _mfn_folder(tmp_path / "pom", k=2)
    r = runner.invoke(app, ["data", "inspect", str(tmp_path / "pom"), "--label-column", "1"])
    assert r.exit_code == 0, r.output
    out = tmp_path / "native"
    r = runner.invoke(
        app, ["data", "convert", str(tmp_path / "pom"), str(out), "--label-column", "1"]
    )
    assert r.exit_code == 0, r.output
    run = tmp_path / "run"
    args = [
        "train",
        "--data",
        str(out),
        "--model",
        "late_fusion",
        "--epochs",
        "1",
        "--out",
        str(run),
    ]
    r = runner.invoke(
        app, [*args, "--set", "train.batch_size=8", "--set", "train.diagnostics=false"]
    )
    assert r.exit_code == 0, r.output
    assert (run / "seed-0" / "metrics.json").is_file()
