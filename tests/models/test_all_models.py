"""Every model in the registry: trains past a constant predictor, and runs on unaligned,
utterance-level and two-modality inputs."""

from pathlib import Path

import pytest
import torch
from tests.conftest import FEATURE_MODELS

from mmcl.config import resolve_config
from mmcl.data.batching import BatchSource
from mmcl.data.synthetic import SynthConfig, make_synthetic
from mmcl.evaluation.baselines import constant_predictions
from mmcl.evaluation.metrics import evaluate
from mmcl.experiments.runs import train_run
from mmcl.models.base import DataInfo
from mmcl.models.registry import MODELS, build_model, model_config

TINY = {
    "mmcl": ["mmcl.d_model=16", "mmcl.ffn_dim=32"],
    "mult": ["mult.d_model=8", "mult.n_heads=2", "mult.layers=1"],
    "misa": ["misa.hidden=16"],
    "tfn": ["tfn.hiddens={text=8, audio=8, vision=8}", "tfn.text_out=8", "tfn.post_fusion_dim=16"],
    "lf_dnn": ["lf_dnn.hiddens={text=16, audio=8, vision=16}", "lf_dnn.text_out=16"],
    "lmf": ["lmf.hiddens={text=16, audio=8, vision=16}"],
    "mfn": ["mfn.hiddens={text=16, audio=8, vision=16}", "mfn.memsize=16"],
    "mctn": ["mctn.hid_dim=8"],
    "tfr_net": ["tfr_net.d_model=8", "tfr_net.n_heads=2", "tfr_net.temporal_heads=2"],
    "mfm": ["mfm.hiddens={text=8, audio=8, vision=8}", "mfm.memsize=8"],
    "graph_mfn": [
        "graph_mfn.hiddens={text=16, audio=8, vision=16}",
        "graph_mfn.memsize=16",
        "graph_mfn.inner_node_dim=8",
    ],
    "ef_lstm": ["ef_lstm.hidden=16", "ef_lstm.layers=2"],
    "mlf_dnn": ["mlf_dnn.hiddens={text=16, audio=8, vision=16}", "mlf_dnn.text_out=16"],
    "mtfn": ["mtfn.hiddens={text=8, audio=8, vision=8}", "mtfn.text_out=8"],
    "mlmf": ["mlmf.hiddens={text=16, audio=8, vision=16}"],
    "self_mm": ["self_mm.post_fusion_dim=32", "self_mm.post_dim=16"],
    "shared_private_cov": [
        "shared_private_cov.post_fusion_dim=32",
        "shared_private_cov.post_dim=16",
    ],
}
TINY_OPTS = {
    "mmcl": {"d_model": 8, "ffn_dim": 16, "n_heads": 2},
    "mult": {"d_model": 8, "n_heads": 2, "layers": 1},
    "misa": {"hidden": 8},
    "tfn": {"hiddens": {"text": 4, "audio": 4}, "text_out": 4, "post_fusion_dim": 8},
    "lf_dnn": {"hiddens": {"text": 8, "audio": 4}, "text_out": 8, "post_fusion_dim": 8},
    "lmf": {"hiddens": {"text": 8, "audio": 4, "vision": 4}},
    "mfn": {"hiddens": {"text": 8, "audio": 4, "vision": 4}, "memsize": 8},
    "mctn": {"hid_dim": 4},
    "tfr_net": {"d_model": 4, "n_heads": 2, "fusion_hiddens": {"text": 4, "audio": 4}},
    "mfm": {"hiddens": {"text": 4, "audio": 4}, "memsize": 4, "zy_size": 8, "fy_size": 8},
    "graph_mfn": {"hiddens": {"text": 8, "audio": 4}, "memsize": 8, "inner_node_dim": 4},
    "ef_lstm": {"hidden": 8, "layers": 2},
    "mlf_dnn": {"hiddens": {"text": 8, "audio": 4}, "text_out": 8, "post_fusion_dim": 8},
    "mtfn": {"hiddens": {"text": 4, "audio": 4}, "text_out": 4, "post_fusion_dim": 8},
    "mlmf": {"hiddens": {"text": 8, "audio": 4, "vision": 4}},
}
# models that need a label per modality and are regression-only
MULTI_TASK = {name for name, (_, cls) in MODELS.items() if cls.needs_unimodal_labels}


@pytest.fixture(scope="module")
def data():
    cfg = SynthConfig(n_train=240, n_valid=80, n_test=40, seq_len=8, seed=5, unimodal_labels=True)
    return make_synthetic(cfg)


@pytest.mark.parametrize("name", FEATURE_MODELS)
def test_model_beats_constant_predictor_on_validation(tmp_path: Path, data, name):
    mods = ['modalities=["text"]'] if name == "unimodal" else []
    cfg = resolve_config(
        model=name,
        epochs=8,
        overrides=[
            *TINY.get(name, []),
            *mods,
            "train.batch_size=32",
            "train.lr=3e-3",
            "train.diagnostics=false",
            'train.selection_metric="MAE"',
        ],
    )
    result = train_run(cfg, data, tmp_path)
    valid = data.splits["valid"]
    const = evaluate(
        "mosi",
        constant_predictions(data.splits["train"].labels, data.task, len(valid)),
        valid.labels,
    )
    assert result["valid"]["MAE"] < 0.85 * const["MAE"], (result["valid"]["MAE"], const["MAE"])


@pytest.mark.parametrize("name", FEATURE_MODELS)
@pytest.mark.parametrize("case", ["utterance", "unaligned", "iemocap"])
def test_model_runs_on_any_input_shape(name, case):
    if case == "iemocap" and (MODELS[name][1].regression_only or name in MULTI_TASK):
        pytest.skip("defined for regression only (tested to refuse classification)")
    torch.manual_seed(0)
    task = "iemocap" if case == "iemocap" else "regression"
    ds = make_synthetic(
        SynthConfig(
            task=task,
            n_train=12,
            n_valid=4,
            n_test=4,
            seq_len=1 if case == "utterance" else 6,
            dims={"text": 5, "audio": 3},
            unimodal_labels=task == "regression",
        )
    )
    seq_lens = ds.seq_lens()
    feats = {m: torch.from_numpy(ds.splits["train"].features[m][:6]) for m in ds.modalities}
    masks = {m: torch.ones(6, seq_lens[m], dtype=torch.bool) for m in ds.modalities}
    if case == "unaligned":  # audio has fewer steps than text, with padding
        feats["audio"] = torch.randn(6, 3, 3)
        masks["audio"] = torch.tensor([[True, True, False]] * 6)
        seq_lens = {"text": 6, "audio": 3}
    info = DataInfo(ds.dims(), seq_lens, ds.task, unimodal_labels=ds.modalities)
    if name == "unimodal":
        info = DataInfo({"audio": 3}, {"audio": seq_lens["audio"]}, ds.task)
    model = build_model(name, model_config(name, TINY_OPTS.get(name, {})), info)
    src = BatchSource(ds.splits["train"])
    model.on_fit_start(src.labels)
    batch = src.batch(torch.arange(6))
    batch.features, batch.masks = feats, masks
    out = model(feats, masks)
    expected = (6,) if task == "regression" else (6, 4, 2)
    assert tuple(out.preds.shape) == expected and torch.isfinite(out.preds).all()
    loss, _ = model.loss(batch, out)
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    # the loss reaches the trainable parameters: finite gradients, not all zero
    grads = [p.grad for p in model.main_parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize("name", FEATURE_MODELS)
def test_output_bias_moves_every_prediction_by_the_same_offset(name):
    cfg = SynthConfig(n_train=16, n_valid=4, n_test=4, seq_len=4, seed=1, unimodal_labels=True)
    ds = make_synthetic(cfg)
    info = DataInfo(ds.dims(), ds.seq_lens(), ds.task, unimodal_labels=ds.modalities)
    if name == "unimodal":
        info = DataInfo({"text": ds.dims()["text"]}, {"text": 4}, ds.task)
    torch.manual_seed(0)
    # TFN's and MTFN's sigmoid-scaled outputs move by no fixed offset (tested apart)
    opts = {**TINY_OPTS.get(name, {}), **({"squash": False} if name in ("tfn", "mtfn") else {})}
    model = build_model(name, model_config(name, opts), info).eval()
    src = BatchSource(ds.splits["train"])
    model.on_fit_start(src.labels)
    batch = src.batch(torch.arange(8))
    before = model.run(batch)
    old = [layer.bias.clone() for layer in model.output_layers()]
    model.init_output_bias(3.5)
    after = model.run(batch)
    # the multimodal output, and every unimodal head's, shift by exactly new - old bias
    torch.testing.assert_close(after.preds - before.preds, (3.5 - old[0]).expand(8))
    for i, m in enumerate(before.unimodal_preds, start=1):
        shift = after.unimodal_preds[m] - before.unimodal_preds[m]
        torch.testing.assert_close(shift, (3.5 - old[i]).expand(8))


def test_output_bias_starts_training_at_the_label_mean(tmp_path: Path):
    """Labels far from 0 (as MMMO's 1-5): with the bias at the training mean, one epoch ends
    near the constant predictor; started at 0 it is still far off."""
    data = make_synthetic(SynthConfig(n_train=120, n_valid=40, n_test=20, seq_len=4, seed=2))
    for split in data.splits.values():
        split.labels = split.labels + 20.0
    mae = {}
    for init in (True, False):
        cfg = resolve_config(
            model="late_fusion",
            epochs=1,
            overrides=[f"train.init_output_bias={str(init).lower()}", "train.diagnostics=false"],
        )
        mae[init] = train_run(cfg, data, tmp_path / str(init))["valid"]["MAE"]
    assert mae[True] < 3.0 < 15.0 < mae[False], mae
