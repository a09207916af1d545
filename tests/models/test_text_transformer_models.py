"""The models that read token ids through the shared text front-end, end to end from the
shell: `mmcl compare` trains each on a native data folder with word-piece ids and tables
them."""

import json
import math

import pytest
from tests.models.conftest import quick_token_config
from typer.testing import CliRunner

from mmcl.cli import app
from mmcl.data.native import write_native
from mmcl.data.synthetic import SynthConfig, make_synthetic
from mmcl.errors import UserError
from mmcl.experiments.runs import train_run

TOKEN_MODELS = [
    "bert_mag",
    'mmim:text_encoder="transformer"',
    "cenet",
    'tetfn:text_encoder="transformer":d_model=10:n_heads=2',
    'almt:text_encoder="transformer":d_model=16:ff_dim=16:heads=2:head_dim=8',
]


def test_compare_runs_every_text_transformer_model(tmp_path, with_tokens, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    data = write_native(with_tokens, tmp_path / "tokens")
    out = tmp_path / "compare"
    args = ["compare", "--data", str(data), "--models", ",".join(TOKEN_MODELS)]
    r = CliRunner().invoke(
        app,
        [
            *args,
            "--out",
            str(out),
            "--seeds",
            "1",
            "--epochs",
            "1",
            "--set",
            "train.batch_size=8",
            "--set",
            "train.diagnostics=false",
        ],
    )
    assert r.exit_code == 0, r.output
    rows = json.loads((out / "compare.json").read_text())["rows"]
    assert set(rows) == set(TOKEN_MODELS)
    assert all(math.isfinite(row["MAE"]["mean"]) for row in rows.values())


@pytest.mark.parametrize("model", ["bert_mag", "cenet"])
def test_models_inside_the_text_refuse_features(tmp_path, model, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    ds = make_synthetic(SynthConfig(n_train=8, n_valid=4, n_test=4))
    with pytest.raises(UserError, match="needs token ids in the data"):
        train_run(quick_token_config(model), ds, tmp_path)
    with pytest.raises(UserError, match=f"{model}.text_encoder must be 'transformer'"):
        quick_token_config(model, [f'{model}.text_encoder="features"'])
