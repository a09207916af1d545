import json

import numpy as np
import pytest
from typer.testing import CliRunner

from mmcl.cli import app
from mmcl.errors import UserError
from mmcl.experiments.grid import parse_spec

runner = CliRunner()
TINY = ["--set", "train.batch_size=32", "--set", "train.diagnostics=false"]


def test_parse_spec():
    assert parse_spec("unimodal:text") == ("unimodal", ['modalities=["text"]'])
    assert parse_spec("late_fusion:audio+vision") == (
        "late_fusion",
        ['modalities=["audio", "vision"]'],
    )
    assert parse_spec("shared_private_cov:lambda_cov=0:train.lr=1e-3") == (
        "shared_private_cov",
        ["shared_private_cov.lambda_cov=0", "train.lr=1e-3"],
    )
    with pytest.raises(UserError, match="unknown model 'nope'"):
        parse_spec("nope")


def test_a_row_with_a_recipe_takes_its_settings_over_the_grids(tmp_path):
    from mmcl.config import resolve_config

    tuned = resolve_config(
        None,
        "late_fusion",
        "elsewhere",
        8,
        ["train.lr=0.005", "late_fusion.dropout=0.1", 'preset="sims"'],
    )
    best = tmp_path / "best.toml"  # what `mmcl tune` writes
    best.write_text(tuned.to_toml("a tuned recipe"))
    name, extra = parse_spec(f"late_fusion:recipe={best}")
    row = resolve_config(None, name, "synthetic", 20, ["train.lr=1e-3", *extra])
    assert (row.train.lr, row.model_cfg().dropout, row.train.epochs) == (0.005, 0.1, 8)
    assert row.data == "synthetic"  # the grid's data, not the recipe's
    assert row.preset == ""  # nor the recipe's task: rows are compared on one task
    with pytest.raises(UserError, match="is for model 'late_fusion', not 'mmcl'"):
        parse_spec(f"mmcl:recipe={best}")
    with pytest.raises(UserError, match="no such file or shipped recipe"):
        parse_spec(f"late_fusion:recipe={tmp_path / 'missing.toml'}")


def test_compare_writes_table_plot_and_its_numbers_are_the_per_seed_mean_and_std(tmp_path):
    data = tmp_path / "d"
    r = runner.invoke(
        app,
        [
            "data",
            "synth",
            "--out",
            str(data),
            "--n-train",
            "60",
            "--n-valid",
            "20",
            "--n-test",
            "20",
            "--seq-len",
            "4",
            "--dims",
            "t=6,a=3,v=3",
        ],
    )
    assert r.exit_code == 0, r.output
    out = tmp_path / "cmp"
    r = runner.invoke(
        app,
        [
            "compare",
            "--data",
            str(data),
            "--models",
            "late_fusion,unimodal:text,ef_lstm",
            "--seeds",
            "3",
            "--epochs",
            "2",
            "--out",
            str(out),
            *TINY,
        ],
    )
    assert r.exit_code == 0, r.output + repr(r.exception)
    assert (out / "compare.png").stat().st_size > 5000
    assert "| unimodal:text |" in (out / "compare.md").read_text()
    table = json.loads((out / "compare.json").read_text())
    for spec, folder in (("late_fusion", "late_fusion"), ("unimodal:text", "unimodal_text")):
        per_seed = [
            json.loads((out / folder / f"seed-{s}" / "metrics.json").read_text())["test"]
            for s in range(3)
        ]
        for metric in ("MAE", "Corr", "Non0_acc_2"):
            values = [p[metric] for p in per_seed]
            assert table["rows"][spec][metric]["mean"] == pytest.approx(np.mean(values))
            assert table["rows"][spec][metric]["std"] == pytest.approx(np.std(values, ddof=1))
        assert (out / "configs" / f"{folder}.json").is_file()
    csv_lines = (out / "compare.csv").read_text().splitlines()
    assert csv_lines[0].startswith("run,n_seeds,Has0_acc_2_mean") and len(csv_lines) == 4
    assert set(table["pvalues"]) == {"unimodal:text", "ef_lstm"}
    saved = json.loads((out / "unimodal_text" / "seed-0" / "config.json").read_text())
    assert saved["modalities"] == ["text"] and saved["data_info"]["dims"] == {"text": 6}


def test_compare_in_parallel_processes(tmp_path):
    out = tmp_path / "cmp"
    r = runner.invoke(
        app,
        [
            "compare",
            "--data",
            "synthetic",
            "--models",
            "late_fusion,unimodal:audio",
            "--seeds",
            "2",
            "--epochs",
            "1",
            "--out",
            str(out),
            "--jobs",
            "2",
            *TINY,
        ],
    )
    assert r.exit_code == 0, r.output + repr(r.exception)
    table = json.loads((out / "compare.json").read_text())
    assert len(table["per_seed"]["late_fusion"]) == 2
