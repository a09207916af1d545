import pickle

import numpy as np
import pytest
from typer.testing import CliRunner

from mmcl.cli import app
from mmcl.data.dataset import DataError
from mmcl.data.loader import load_dataset
from mmcl.data.safe_pickle import safe_load


def _mult_split(n=4, length=3, audio=None, labels=None):
    return {
        "text": np.zeros((n, length, 5), np.float32),
        "audio": np.zeros((n, length, 2), np.float32) if audio is None else audio,
        "vision": np.zeros((n, length, 2), np.float32),
        "labels": np.linspace(-1, 1, n).reshape(n, 1, 1).astype(np.float32)
        if labels is None
        else labels,
        "id": np.array([f"v_{i}" for i in range(n)], dtype=object),
    }


def _dump(path, obj):
    path.write_bytes(pickle.dumps(obj, protocol=4))
    return path


def _mmsa_split(n=4, length=3, audio_lengths=None):
    return {
        "id": np.array([f"v$_${i}" for i in range(n)], dtype=object),
        "text": np.zeros((n, length, 5), np.float32),
        "audio": np.zeros((n, length, 2), np.float32),
        "audio_lengths": np.full(n, length) if audio_lengths is None else audio_lengths,
        "regression_labels": np.linspace(-2, 2, n).astype(np.float32),
    }


class Evil:
    def __reduce__(self):
        import os

        return (os.system, ("touch PWNED_FILE",))


def test_unsafe_pickle_is_refused_and_never_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    evil = _dump(tmp_path / "data.pkl", {"train": {"labels": Evil()}})
    result = CliRunner().invoke(app, ["data", "inspect", str(evil)])
    assert result.exit_code != 0
    assert "posix.system" in result.output or "os.system" in result.output
    assert "data.pkl" in result.output and "Nothing in it was run" in result.output
    assert not (tmp_path / "PWNED_FILE").exists()


def test_safe_load_refuses_arbitrary_class(tmp_path):
    path = _dump(tmp_path / "x.pkl", {"a": DataError("x")})
    with pytest.raises(DataError, match="mmcl.data.dataset.DataError"):
        safe_load(path)


def test_missing_split(tmp_path):
    p = _dump(tmp_path / "m.pkl", {"train": _mult_split(), "valid": _mult_split()})
    with pytest.raises(DataError, match=r"m\.pkl: split 'test' is missing"):
        load_dataset(p)


def test_missing_modality(tmp_path):
    test = _mult_split()
    del test["vision"]
    p = _dump(tmp_path / "m.pkl", {"train": _mult_split(), "valid": _mult_split(), "test": test})
    with pytest.raises(
        DataError, match=r"split 'test' modalities differ from train: missing \['vision'\]"
    ):
        load_dataset(p)


def test_mismatched_n(tmp_path):
    bad = _mult_split(audio=np.zeros((3, 3, 2), np.float32))
    p = _dump(tmp_path / "m.pkl", {"train": bad, "valid": _mult_split(), "test": _mult_split()})
    with pytest.raises(DataError, match=r"\[train\]: modalities disagree on the number of samples"):
        load_dataset(p)


def test_lengths_longer_than_padding(tmp_path):
    bad = _mmsa_split(audio_lengths=np.array([3, 3, 7, 3]))
    p = _dump(tmp_path / "a.pkl", {"train": _mmsa_split(), "valid": bad, "test": _mmsa_split()})
    with pytest.raises(
        DataError,
        match=r"\[valid\]: 'audio' length 7 of sample 2 is outside \[0, padded length 3\]",
    ):
        load_dataset(p)


def test_labels_out_of_range(tmp_path):
    bad = _mmsa_split()
    bad["regression_labels"] = np.array([0.0, 1.0, 2.0, 3.5], np.float32)
    p = _dump(tmp_path / "a.pkl", {"train": _mmsa_split(), "valid": _mmsa_split(), "test": bad})
    with pytest.raises(
        DataError, match=r"\[test\]: labels span \[0, 3.5\], outside the task's range \[-3.0, 3.0\]"
    ):
        load_dataset(p, preset="mosi")


def test_empty_split(tmp_path):
    p = _dump(
        tmp_path / "m.pkl",
        {"train": _mult_split(), "valid": _mult_split(n=0), "test": _mult_split()},
    )
    with pytest.raises(DataError, match=r"\[valid\]: the split is empty"):
        load_dataset(p)


def test_wrong_dtype(tmp_path):
    bad = _mult_split(audio=np.array([[["a", "b"]] * 3] * 4))
    p = _dump(tmp_path / "m.pkl", {"train": _mult_split(), "valid": _mult_split(), "test": bad})
    with pytest.raises(
        DataError,
        match=r"\[test\], modality 'audio': expected a numeric feature array, found dtype <U1",
    ):
        load_dataset(p)


def test_nonfinite_features_are_zeroed_and_counted(tmp_path):
    audio = np.ones((4, 3, 2), np.float32)
    audio[0, 0, 0] = -np.inf
    audio[1, 2, 1] = np.nan
    audio[3, 1, 0] = np.inf
    p = _dump(
        tmp_path / "m.pkl",
        {"train": _mult_split(audio=audio), "valid": _mult_split(), "test": _mult_split()},
    )
    with pytest.warns(
        UserWarning, match=r"replaced 3 NaN/inf feature values by 0 \(train/audio: 3\)"
    ):
        ds = load_dataset(p)
    x = ds.splits["train"].features["audio"]
    assert np.isfinite(x).all() and x[0, 0, 0] == 0 and x[1, 2, 1] == 0
    assert ds.cleaned == {"train/audio": 3}


def test_cli_reports_data_errors_without_traceback(tmp_path):
    p = _dump(tmp_path / "m.pkl", {"train": _mult_split(), "valid": _mult_split()})
    result = CliRunner().invoke(app, ["data", "inspect", str(p)])
    assert result.exit_code == 2
    assert "error:" in result.output and "split 'test' is missing" in result.output
    assert "Traceback" not in result.output


class _Reduce:
    """A pickle that calls `func(*args)` when loaded (if anything lets it)."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return (self.func, self.args)


def _hostile_payloads(marker):
    import builtins
    import os
    import subprocess

    touch = f"open({str(marker)!r}, 'w').write('ran')"
    return {
        "os.system": _Reduce(os.system, f"touch {marker}"),
        "subprocess.Popen": _Reduce(subprocess.Popen, ["touch", str(marker)]),
        "builtins.eval": _Reduce(builtins.eval, touch),
        "builtins.exec": _Reduce(builtins.exec, touch),
        "import trick": _Reduce(builtins.__import__, "os"),
        # nested: the call hides inside an allowed container and an array's state
        "nested in a split": {
            "train": {"labels": [np.zeros(2), {"x": _Reduce(os.system, "true")}]}
        },
    }


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
@pytest.mark.parametrize("name", list(_hostile_payloads("m")))
def test_hostile_pickles_are_refused_before_anything_runs(tmp_path, protocol, name):
    marker = tmp_path / "RAN"
    payload = _hostile_payloads(marker)[name]
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(payload, protocol=protocol))
    with pytest.raises(DataError, match="refused to load this pickle: it references"):
        safe_load(path)
    with pytest.raises(DataError):
        load_dataset(path)
    assert not marker.exists()
