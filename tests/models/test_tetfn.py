"""TETFN as MMSA builds it: parameters counted by hand from MMSA's layer list, padding
kept out, Self-MM's training (the unimodal labels move), training on token ids."""

import json

import numpy as np
import torch
from tests.models.test_mmsa_baselines import MOSI, linear, lstm, mult_encoder

from mmcl.config import resolve_config
from mmcl.data.synthetic import SynthConfig, make_synthetic
from mmcl.experiments.runs import train_run
from mmcl.models.base import DataInfo
from mmcl.models.registry import model_config
from mmcl.models.tetfn import TETFN


def head(d_in, d):  # post_*_layer_1 (d_in -> d), _2 (d -> d), _3 (d -> 1)
    return linear(d_in, d) + linear(d, d) + linear(d, 1)


def test_parameters_are_mmsas_layer_list():
    """MMSA's TETFN at MOSI sizes on BERT's 768 (d 50, 5 heads): AuViSubNets LSTM(5, 16)
    and LSTM(20, 64), each with a Conv1d to 50 (kernel 1, no bias); proj_l Conv1d(768, 50);
    four crossmodal encoders of 2 layers (l<a, l<v, a<l, v<l); two text-enhanced
    transformers (1 + 2 layers); three memories of width 100, 2 layers; the fusion head
    300 -> 64 -> 64 -> 1 and the unimodal heads 50 -> 32/32/16. The text model apart."""
    model = TETFN(model_config("tetfn"), MOSI)
    subnets = lstm(5, 16) + 16 * 50 + lstm(20, 64) + 64 * 50 + 768 * 50
    encoders = 4 * mult_encoder(50, 2) + 2 * (mult_encoder(50, 1) + mult_encoder(50, 2))
    memories = 3 * mult_encoder(100, 2)
    heads = head(300, 64) + head(50, 32) + head(50, 32) + head(50, 16)
    assert sum(p.numel() for p in model.parameters()) == subnets + encoders + memories + heads


def test_padding_past_the_lengths_changes_nothing():
    torch.manual_seed(0)
    dims = {"text": 6, "audio": 3, "vision": 4}
    info = DataInfo(dims, dict.fromkeys(dims, 7), MOSI.task)
    cfg = model_config("tetfn", {"d_model": 10, "n_heads": 2})
    model = TETFN(cfg, info).eval()
    x = {m: torch.randn(2, 7, d) for m, d in info.dims.items()}
    masks = {m: torch.tensor([[True] * 5 + [False] * 2] * 2) for m in x}
    before = model(x, masks)
    for m in x:
        x[m][:, 5:] = 50.0
    after = model(x, masks)
    torch.testing.assert_close(before.preds, after.preds)
    for m in before.unimodal_preds:
        torch.testing.assert_close(before.unimodal_preds[m], after.unimodal_preds[m])


def test_trains_with_self_mms_labels_and_on_token_ids(tmp_path, with_tokens, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    data = make_synthetic(SynthConfig(n_train=48, n_valid=16, n_test=16, seq_len=5, seed=2))
    cfg = resolve_config(
        model="tetfn",
        epochs=3,
        overrides=[
            "tetfn.d_model=10",
            "tetfn.n_heads=2",
            "train.batch_size=16",
            "train.diagnostics=false",
            "train.patience=0",
        ],
    )
    train_run(cfg, data, tmp_path / "features")
    log = [json.loads(line) for line in (tmp_path / "features" / "log.jsonl").open()]
    # ULGM moves the unimodal labels from the second epoch on
    assert log[0]["train_label_gap_audio"] == 0 and log[2]["train_label_gap_audio"] > 0
    tokens = resolve_config(
        model="tetfn",
        epochs=2,
        overrides=[
            'tetfn.text_encoder="transformer"',
            "tetfn.text_lr=1e-3",
            "tetfn.d_model=10",
            "tetfn.n_heads=2",
            "train.batch_size=8",
            "train.diagnostics=false",
            "train.patience=0",
        ],
    )
    result = train_run(tokens, with_tokens, tmp_path / "tokens")
    assert np.isfinite(result["test"]["MAE"])
