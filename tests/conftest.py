import importlib.util
import os
import sys
from contextlib import contextmanager
from pathlib import Path

import h5py
import numpy as np
import pytest

from mmcl.data.synthetic import SynthConfig, make_synthetic
from mmcl.models.registry import MODELS

# the real data sets of the workplace: ../shared/data beside the repository, or $MMCL_SHARED_DATA
SHARED = Path(
    os.environ.get("MMCL_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
)
needs_shared = pytest.mark.skipif(
    not SHARED.is_dir(), reason=f"real data not found at {SHARED} (set MMCL_SHARED_DATA)"
)
# models that read features (those that read only token ids, as BERT-MAG, are tested with
# token data in their own files)
FEATURE_MODELS = sorted(n for n, (_, cls) in MODELS.items() if not cls.reads_tokens)


@contextmanager
def script_module(name: str, folder: str = "scripts"):
    """<folder>/<name>.py imported as a module (scripts and benchmarks are not in the
    package)."""
    path = Path(__file__).resolve().parents[1] / folder / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    try:
        yield module
    finally:
        del sys.modules[spec.name]


@pytest.fixture(scope="session")
def synth_regression():
    return make_synthetic(SynthConfig(n_train=60, n_valid=20, n_test=20, seed=1))


@pytest.fixture(scope="session")
def synth_iemocap():
    return make_synthetic(SynthConfig(task="iemocap", n_train=60, n_valid=20, n_test=20, seed=2))


def _write_csd(path, root, seqs):
    """A CMU-MultimodalSDK computational sequence: root/data/<video>/{features,intervals}."""
    with h5py.File(path, "w") as f:
        g = f.create_group(root)
        data = g.create_group("data")
        for vid, (feats, iv) in seqs.items():
            v = data.create_group(vid)
            v.create_dataset("features", data=feats)
            v.create_dataset("intervals", data=iv)
        g.create_group("metadata")


@pytest.fixture
def write_csd():
    return _write_csd


@pytest.fixture
def csd_folder(tmp_path):
    """A small MOSI-like .csd folder (labels, audio, vision) on videos of the standard folds."""
    from mmcl.data.csd import mosi_folds

    rng = np.random.default_rng(0)
    folds = mosi_folds()
    labels, audio, vision = {}, {}, {}
    for s, k in (("train", 6), ("valid", 3), ("test", 3)):
        for vid in folds[s][:k]:
            n_seg = 4
            iv = np.stack([np.arange(n_seg) * 2.0, np.arange(n_seg) * 2.0 + 2.0], 1)
            labels[vid] = (rng.uniform(-3, 3, (n_seg, 1)).astype(np.float32), iv)
            t = np.arange(0, 2.0 * n_seg, 0.25)
            frames = np.stack([t, t + 0.25], 1)
            audio[vid] = (rng.normal(size=(len(t), 5)).astype(np.float32), frames)
            vision[vid] = (rng.normal(size=(len(t), 4)).astype(np.float32), frames)
    folder = tmp_path / "csd"
    folder.mkdir()
    _write_csd(folder / "CMU_MOSI_Opinion_Labels.csd", "Opinion Segment Labels", labels)
    _write_csd(folder / "CMU_MOSI_COVAREP.csd", "COVAREP", audio)
    _write_csd(folder / "CMU_MOSI_Visual_Facet_42.csd", "FACET 4.2", vision)
    return folder
