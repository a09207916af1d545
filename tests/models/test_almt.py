"""ALMT as MMSA builds and trains it: parameters counted by hand from MMSA's layer list, the
padding kept out, MSE, AdamW and the warm-up + cosine schedule, training on token ids."""

import math

import numpy as np
import pytest
import torch
from tests.models.test_mmsa_baselines import MOSI, layernorm, linear

from mmcl.config import resolve_config
from mmcl.data.synthetic import SynthConfig, make_synthetic
from mmcl.experiments.runs import data_info, train_run
from mmcl.models.almt import ALMT
from mmcl.models.base import DataInfo
from mmcl.models.registry import build_model, model_config
from mmcl.training.trainer import Trainer

# MMSA's unaligned MOSI lengths (feature_length in its ALMT config)
UNALIGNED = DataInfo(MOSI.dims, {"text": 50, "audio": 375, "vision": 500}, MOSI.task)


def test_parameters_are_mmsas_layer_list():
    """d 128, 8 heads of 64 (inner 512): a transformer layer is q/k/v Linear(128, 512)
    without bias, to_out Linear(512, 128), LayerNorms for q, k, v and the feed-forward,
    FeedForward 128 -> 128 -> 128. Per modality: Linear(D, 128), 8 extra tokens, positions
    for L + 8 steps, one layer. The language encoder: 8 positions and 2 layers; the
    hyper-modality 8 x 128; 3 AHL layers (4 LayerNorms, to_q, to_k/to_v per other modality
    at 128 -> 128 without bias, to_out Linear(128, 128)); the fusion: a shared token, two
    position tables of 9, 2 layers; the head Linear(128, 1). The text model apart."""
    model = ALMT(model_config("almt"), UNALIGNED)
    d, inner = 128, 512
    layer = 3 * d * inner + linear(inner, d) + 4 * layernorm(d) + 2 * linear(d, d)

    def embedding(dim, steps):
        return linear(dim, d) + 8 * d + (steps + 8) * d + layer

    embeddings = embedding(768, 50) + embedding(5, 375) + embedding(20, 500)
    language = 8 * d + 2 * layer
    ahl = 3 * (4 * layernorm(d) + d * d + 2 * 2 * d * d + linear(d, d))
    fusion = d + 2 * 9 * d + 2 * layer
    expected = embeddings + language + 8 * d + ahl + fusion + linear(d, 1)
    assert sum(p.numel() for p in model.parameters()) == expected


def test_padding_past_the_lengths_changes_nothing():
    torch.manual_seed(0)
    dims = {"text": 6, "audio": 3, "vision": 4}
    cfg = model_config("almt", {"d_model": 16, "ff_dim": 16, "heads": 2, "head_dim": 8})
    model = ALMT(cfg, DataInfo(dims, dict.fromkeys(dims, 7), MOSI.task)).eval()
    x = {m: torch.randn(2, 7, d) for m, d in dims.items()}
    masks = {m: torch.tensor([[True] * 5 + [False] * 2] * 2) for m in x}
    before = model(x, masks).preds
    for m in x:
        x[m][:, 5:] = 50.0
    torch.testing.assert_close(before, model(x, masks).preds)


def test_mse_adamw_and_the_warm_up_then_cosine(tmp_path):
    ds = make_synthetic(SynthConfig(n_train=16, n_valid=8, n_test=8, seq_len=4))
    cfg = resolve_config(
        "almt_mosi", overrides=['almt.text_encoder="features"', "train.warmup_epochs=4"]
    )
    model = build_model("almt", cfg.model_cfg(), data_info(ds))
    trainer = Trainer(model, ds, cfg.train, tmp_path)
    assert isinstance(trainer.optimizer, torch.optim.AdamW)
    lrs = []
    for _ in range(7):
        lrs.append(trainer.optimizer.param_groups[0]["lr"])
        trainer.optimizer.step()  # no gradients: moves nothing, keeps PyTorch's order
        trainer.scheduler.step()
    # from 0 up to the rate over 4 epochs (MMSA's first epoch trains at 0), then the cosine
    cosine = [1e-4 * 0.5 * (1 + math.cos(math.pi * k / 180)) for k in (0, 1)]
    assert lrs == pytest.approx([0.0, 2.5e-5, 5e-5, 7.5e-5, 1e-4, *cosine], rel=1e-9)
    batch = trainer.sources["train"].batch(torch.arange(8))
    with torch.no_grad():
        out = model.run(batch)
        loss, _ = model.loss(batch, out)
    assert float(loss) == pytest.approx(float(((out.preds - batch.labels) ** 2).mean()))


def test_trains_on_token_ids(tmp_path, with_tokens, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg = resolve_config(
        model="almt",
        epochs=2,
        overrides=[
            'almt.text_encoder="transformer"',
            "almt.d_model=16",
            "almt.ff_dim=16",
            "almt.heads=2",
            "almt.head_dim=8",
            "train.batch_size=8",
            "train.diagnostics=false",
        ],
    )
    assert np.isfinite(train_run(cfg, with_tokens, tmp_path)["test"]["MAE"])
