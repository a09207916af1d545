"""A training process killed with SIGKILL (no cleanup, no exception handler) at arbitrary
moments leaves only complete files, and a resumed run ends exactly as an uninterrupted one."""

import json
import signal
import subprocess
import sys
import textwrap

import pytest
from safetensors.torch import load_file

from mmcl.config import resolve_config
from mmcl.data.synthetic import SynthConfig, make_synthetic
from mmcl.experiments.runs import train_run

SETTINGS = [
    "mmcl.d_model=16",
    "mmcl.ffn_dim=32",
    "train.batch_size=32",
    "train.lr=3e-3",
    "train.diagnostics=false",
    "train.patience=0",
]
DATA = dict(n_train=96, n_valid=32, n_test=32, seq_len=6, seed=4)

# the training process: dies by SIGKILL at the N-th call of the patched function
SCRIPT = (
    textwrap.dedent(
        """
    import os, signal, sys
    from pathlib import Path
    import torch
    import mmcl.training.state as state
    from mmcl.config import resolve_config
    from mmcl.data.synthetic import SynthConfig, make_synthetic
    from mmcl.experiments.runs import train_run

    where, n, out = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    calls = {"n": 0}

    def dying(real):
        def wrapper(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == n and where == "checkpoint":
                real(*args, **kwargs)  # the tensors are written; the folder is not yet renamed
            if calls["n"] == n:
                os.kill(os.getpid(), signal.SIGKILL)
            return real(*args, **kwargs)
        return wrapper

    if where == "checkpoint":
        state.save_file = dying(state.save_file)
    else:  # "step": in the middle of an epoch, at an optimiser step
        torch.optim.Adam.step = dying(torch.optim.Adam.step)
    ds = make_synthetic(SynthConfig(**{DATA}))
    cfg = resolve_config(model="mmcl", epochs=4, overrides={SETTINGS})
    train_run(cfg, ds, out)
    """
    )
    .replace("{DATA}", repr(DATA))
    .replace("{SETTINGS}", repr(SETTINGS))
)


def _complete_files(folder):
    """Every file the run keeps parses; returns how many were checked."""
    checked = 0
    for path in folder.rglob("*"):
        if path.is_dir() or path.name.startswith("."):
            continue
        if path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".jsonl":
            text = path.read_text()
            assert text == "" or text.endswith("\n"), path
            [json.loads(line) for line in text.splitlines()]
        elif path.suffix == ".safetensors":
            load_file(str(path))
        checked += 1
    return checked


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    cfg = resolve_config(model="mmcl", epochs=4, overrides=SETTINGS)
    out = tmp_path_factory.mktemp("full")
    return train_run(cfg, make_synthetic(SynthConfig(**DATA)), out)


@pytest.mark.parametrize(
    ("where", "n"),
    [("step", 8), ("step", 20), ("checkpoint", 2), ("checkpoint", 3)],
    ids=["step-8", "step-20", "checkpoint-2", "checkpoint-3"],
)
def test_sigkill_leaves_complete_files_and_resume_matches(tmp_path, uninterrupted, where, n):
    out = tmp_path / "run"
    killed = subprocess.run([sys.executable, "-c", SCRIPT, where, str(n), str(out)])
    assert killed.returncode == -signal.SIGKILL
    assert not (out / "metrics.json").exists()  # it did not finish
    assert _complete_files(out) >= 1
    cfg = resolve_config(model="mmcl", epochs=4, overrides=SETTINGS)
    resumed = train_run(cfg, make_synthetic(SynthConfig(**DATA)), out, resume=True)
    assert resumed["test"] == uninterrupted["test"]
    assert resumed["best_epoch"] == uninterrupted["best_epoch"]
    assert len((out / "log.jsonl").read_text().splitlines()) == 4
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no leftovers
    # finished, the run keeps no checkpoint: its metrics resume it
    assert not (out / "checkpoint").exists()
    assert train_run(cfg, make_synthetic(SynthConfig(**DATA)), out, resume=True) == resumed
    _complete_files(out)
