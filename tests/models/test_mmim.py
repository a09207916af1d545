"""MMIM as MMSA builds it: parameters counted by hand from MMSA's layer list, its two-stage
optimisation (the first pass steps only the MI-bound networks), the entropy term's
arithmetic, exact resume, and training on token ids."""

import json

import numpy as np
import pytest
import torch
from tests.models.test_mmsa_baselines import MOSI, linear, lstm

from mmcl.config import resolve_config
from mmcl.data.synthetic import SynthConfig, make_synthetic
from mmcl.errors import UserError
from mmcl.experiments.runs import data_info, seed_everything, train_run
from mmcl.models.mmim import MMIM, entropy
from mmcl.models.registry import build_model, model_config
from mmcl.training.trainer import Trainer


def test_parameters_are_mmsas_layer_list():
    """MMSA's MMIM at MOSI sizes (d_ah = d_vh = d_aout = d_vout = 16, bidirectional,
    d_prjh = 128) on BERT's 768: a BiLSTM + Linear(32, 16) per non-text modality; per MMILB
    (text with audio, text with vision) mu and logvar MLPs 768 -> 16 -> 16 and the entropy
    projection Linear(16, 4); CPC Linear(128, 768), Linear(128, 16) twice; the fusion
    Linear(800, 128), Linear(128, 128), Linear(128, 1). The text model is counted apart."""
    model = MMIM(model_config("mmim"), MOSI)
    encoders = sum(lstm(d, 16, bidirectional=True) + linear(32, 16) for d in (5, 20))
    mmilb = 2 * (2 * (linear(768, 16) + linear(16, 16)) + linear(16, 4))
    cpc = linear(128, 768) + 2 * linear(128, 16)
    fusion = linear(800, 128) + linear(128, 128) + linear(128, 1)
    assert sum(p.numel() for p in model.parameters()) == encoders + mmilb + cpc + fusion


def test_entropy_is_a_quarter_of_the_two_log_determinants():
    gen = torch.Generator().manual_seed(0)
    pos, neg = torch.randn(30, 4, generator=gen), torch.randn(20, 4, generator=gen) * 2

    def logdet(x):
        c = x.numpy().astype(np.float64)
        c = c - c.mean(0)
        return np.linalg.slogdet(c.T @ c / len(c))[1]

    expected = 0.25 * (logdet(pos) + logdet(neg))
    got = entropy([pos[:10], pos[10:]], [neg], 4)  # a remembered batch and this one
    assert float(got) == pytest.approx(expected, rel=1e-4)
    # a side with no more samples than dimensions (singular covariance) is left out
    assert float(entropy([pos], [neg[:4]], 4)) == pytest.approx(0.25 * logdet(pos), rel=1e-4)


def _cfg(epochs=2, extra=()):
    return resolve_config(
        model="mmim",
        epochs=epochs,
        overrides=["train.batch_size=16", "train.diagnostics=false", "train.patience=0", *extra],
    )


@pytest.fixture(scope="module")
def small():
    return make_synthetic(SynthConfig(n_train=64, n_valid=16, n_test=16, seq_len=5, seed=3))


def test_the_first_stage_steps_only_the_mi_bound_networks(tmp_path, small):
    cfg = _cfg()
    seed_everything(0)
    model = build_model("mmim", cfg.model_cfg(), data_info(small))
    trainer = Trainer(model, small, cfg.train, tmp_path)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    model.train()
    logs = trainer.first_stage()
    assert np.isfinite(logs["first_mmilb_loss"])
    moved = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    trainable_mmilb = {
        n for n, p in model.named_parameters() if n.startswith("mmilb.") and p.requires_grad
    }
    assert moved == trainable_mmilb  # nothing else moves, the entropy projection included
    # MMSA's rates for the MMILB optimiser, not train.lr
    group = trainer.extra_optimizers["mmilb"].param_groups[0]
    assert (group["lr"], group["weight_decay"]) == (1e-3, 1e-4)


def test_main_stage_adds_the_entropy_from_the_third_batch(tmp_path, small):
    result = train_run(_cfg(epochs=1), small, tmp_path)
    assert np.isfinite(result["test"]["MAE"])
    log = json.loads((tmp_path / "log.jsonl").read_text().splitlines()[0])
    for key in ("first_mmilb_loss", "train_nce", "train_lld", "train_entropy"):
        assert np.isfinite(log[key]), key


def test_resume_after_kill_matches_uninterrupted(tmp_path, small):
    class Stop(Exception):
        pass

    def kill(epoch, score):
        if epoch == 1:
            raise Stop

    cfg = _cfg(epochs=3)
    full = train_run(cfg, small, tmp_path / "full")
    with pytest.raises(Stop):
        train_run(cfg, small, tmp_path / "killed", on_epoch_end=kill)
    resumed = train_run(cfg, small, tmp_path / "killed", resume=True)
    assert resumed["test"] == full["test"]


def test_trains_on_token_ids(tmp_path, with_tokens, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg = _cfg(
        epochs=2,
        extra=['mmim.text_encoder="transformer"', "mmim.text_lr=1e-3", "train.batch_size=8"],
    )
    result = train_run(cfg, with_tokens, tmp_path)
    assert np.isfinite(result["test"]["MAE"])


def test_refuses_data_without_text_and_classification(tmp_path):
    audio_vision = make_synthetic(SynthConfig(n_train=8, n_valid=4, n_test=4, seq_len=3))
    audio_vision = audio_vision.select_modalities(["audio", "vision"])
    with pytest.raises(UserError, match="mmim needs a text modality"):
        train_run(_cfg(), audio_vision, tmp_path / "a")
    iemocap = make_synthetic(SynthConfig(task="iemocap", n_train=8, n_valid=4, n_test=4))
    with pytest.raises(UserError, match="needs a regression task"):
        train_run(_cfg(), iemocap, tmp_path / "b")
