"""Data-parallel training with torchrun (2 processes, gloo on CPU) against one process with
the same global batch size."""

import json
import subprocess
import sys

import pytest

from mmcl.data.synthetic import SynthConfig
from mmcl.data.synthetic import write_synthetic as write_synth
from mmcl.experiments.train import train_from_options

SETTINGS = [
    "train.batch_size=32",
    "train.selection_metric=MAE",
    "train.diagnostics=false",
    "mmcl.d_model=16",
    "mmcl.ffn_dim=32",
]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp") / "data"
    write_synth(SynthConfig(n_train=256, n_valid=128, n_test=64, seed=3), out, "native", False)
    return out


def _valid_mae(run):
    return json.loads((run / "seed-0" / "metrics.json").read_text())["valid"]["MAE"]


# Why not equal: each rank normalises its half of a batch (BatchNorm), and the MMCL
# actor-critic samples from per-rank replay buffers (the critic and actor gradients are
# averaged, so each step learns from both ranks' samples, but not the same samples as one
# process draws). Self-MM's label memory is gathered from every rank, so it only differs
# by BatchNorm and summation order.
@pytest.mark.slow
@pytest.mark.parametrize(("model", "tolerance"), [("self_mm", 0.02), ("mmcl", 0.05)])
def test_two_process_training_matches_one_process(tmp_path, data, model, tolerance):
    args = ["--data", str(data), "--model", model, "--epochs", "4", "--seeds", "1"]
    args += [a for s in SETTINGS if s.startswith(("train.", f"{model}.")) for a in ("--set", s)]
    ddp = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "mmcl", "train", *args, "--out", str(ddp), "--nproc", "2"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    overrides = [s for s in SETTINGS if s.startswith(("train.", f"{model}."))]
    single = tmp_path / "single"
    train_from_options(None, model, str(data), 4, overrides, single, 1, False, lambda _: None)
    # one run folder, written by rank 0 alone; its config says how many processes trained it
    assert sorted(p.name for p in ddp.iterdir() if p.is_dir()) == ["seed-0"]
    assert json.loads((ddp / "seed-0" / "config.json").read_text())["processes"] == 2
    log = (ddp / "seed-0" / "log.jsonl").read_text().splitlines()
    assert len(log) == 4  # one line per epoch: not one per rank
    assert abs(_valid_mae(ddp) - _valid_mae(single)) <= tolerance
