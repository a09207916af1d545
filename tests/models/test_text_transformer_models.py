"""The models that read token ids through the shared text front-end, end to end from the
shell: `mmcl compare` trains each on a native data folder with word-piece ids and tables
them."""

import json
import math

from typer.testing import CliRunner

from mmcl.cli import app
from mmcl.data.native import write_native

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
