import torch

from mmcl.data.synthetic import SynthConfig, make_synthetic
from mmcl.evaluation.diagnostics import collect_extras, write_diagnostics
from mmcl.models.base import DataInfo
from mmcl.models.registry import build_model, model_config

DS = make_synthetic(SynthConfig(n_train=8, n_valid=4, n_test=6, seq_len=5, seed=3))
INFO = DataInfo(DS.dims(), DS.seq_lens(), DS.task)


def _model(name, **options):
    torch.manual_seed(0)
    return build_model(name, model_config(name, options), INFO)


def test_mmcl_diagnostics_hold_csd_weights_and_gates_per_modality(tmp_path):
    model = _model("mmcl", d_model=8, n_heads=2, ffn_dim=16)
    extras, ids, lengths = collect_extras(model, DS.splits["test"], 3)
    mods = DS.modalities
    assert sorted(extras) == sorted([f"CSD P {m}" for m in mods] + [f"gate {m}" for m in mods])
    # batches are trimmed to their longest sample; aligned modalities share that length
    steps = max(max(v) for v in lengths.values())
    assert extras["CSD P text"].shape == (3, steps, steps)
    assert extras["gate audio"].shape == (3, steps)
    # the CSD weights of each own step are a distribution over the partner steps
    p = extras["CSD P text"]
    n = lengths["text"][0]
    assert abs(p[0, :n, :n].sum(-1) - 1).max() < 1e-5
    assert list(ids) == list(DS.splits["test"].ids[:3])
    files = write_diagnostics(model, DS.splits["test"], tmp_path / "diag", n_samples=2)
    assert files == ["sample0.png", "sample1.png"]
    assert all((tmp_path / "diag" / f).stat().st_size > 1000 for f in files)


def test_models_without_csd_write_no_diagnostics(tmp_path):
    model = _model("late_fusion")
    assert collect_extras(model, DS.splits["test"], 2)[0] == {}
    assert write_diagnostics(model, DS.splits["test"], tmp_path / "diag") == []
    assert not (tmp_path / "diag").exists()
