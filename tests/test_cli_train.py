import csv
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from mmcl.cli import app
from mmcl.experiments.grid import ABLATION_GRID, folder_name, load_grid

runner = CliRunner()
TINY = [
    "--set",
    "mmcl.d_model=8",
    "--set",
    "mmcl.ffn_dim=16",
    "--set",
    "mmcl.n_heads=2",
    "--set",
    "train.batch_size=16",
    "--set",
    "train.diagnostics=false",
]


def _synth(tmp_path, fmt, task="regression"):
    out = tmp_path / {"native": "nat", "mmsa": "d.pkl", "mult": "m.pkl"}[fmt]
    r = runner.invoke(
        app,
        [
            "data",
            "synth",
            "--out",
            str(out),
            "--format",
            fmt,
            "--task",
            task,
            "--n-train",
            "40",
            "--n-valid",
            "12",
            "--n-test",
            "12",
            "--seq-len",
            "4",
            "--dims",
            "t=6,a=3,v=3",
        ],
    )
    assert r.exit_code == 0, r.output
    return out


@pytest.fixture(params=["native", "mmsa", "mult", "csd"])
def data_path(request, tmp_path, csd_folder):
    return csd_folder if request.param == "csd" else _synth(tmp_path, request.param)


def _ok(args):
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output + repr(r.exception)
    return r


def test_train_evaluate_predict_ablate_on_each_format(tmp_path, data_path):
    run = tmp_path / "run"
    _ok(
        [
            "train",
            "--data",
            str(data_path),
            "--model",
            "mmcl",
            "--out",
            str(run),
            "--seeds",
            "2",
            "--epochs",
            "2",
            *TINY,
        ]
    )
    summary = json.loads((run / "summary.json").read_text())
    assert summary["seeds"] == [0, 1] and "MAE" in summary["test"]
    r = _ok(["evaluate", str(run), "--data", str(data_path), "--split", "test"])
    assert "seed 1:" in r.output
    for seed in (0, 1):  # evaluation reads the same data for every seed
        evaluated = json.loads((run / f"seed-{seed}" / "eval-test.json").read_text())["metrics"]
        trained = json.loads((run / f"seed-{seed}" / "metrics.json").read_text())["test"]
        assert evaluated["MAE"] == pytest.approx(trained["MAE"], rel=1e-6)
    _ok(["predict", str(run), "--data", str(data_path), "--out", str(tmp_path / "p.csv")])
    rows = list(csv.DictReader((tmp_path / "p.csv").read_text().splitlines()))
    assert len(rows) == 12  # every test sample of _synth, in order
    assert set(rows[0]) == {"id", "prediction", "polarity", "label"}
    abl = tmp_path / "abl"
    _ok(
        [
            "ablate",
            "--data",
            str(data_path),
            "--out",
            str(abl),
            "--seeds",
            "1",
            "--epochs",
            "1",
            "--only",
            "mmcl:variant=reference,mmcl,late_fusion",
            *TINY,
        ]
    )
    table = (abl / "compare.md").read_text()
    # the grid's order, whatever the order of --only
    assert table.index("| mmcl |") < table.index("| mmcl:variant=reference |")
    assert "| late_fusion |" in table and "| mmcl:csd=none |" not in table
    assert len((abl / "compare.csv").read_text().splitlines()) == 4


def test_full_ablation_grid_and_summary_numbers(tmp_path):
    data = _synth(tmp_path, "native")
    abl = tmp_path / "abl"
    _ok(["ablate", "--data", str(data), "--out", str(abl), "--seeds", "2", "--epochs", "1", *TINY])
    rows = json.loads((abl / "compare.json").read_text())["rows"]
    assert list(rows) == load_grid(ABLATION_GRID).models and len(rows) == 16
    for spec in ("mmcl", "mmcl:csd=none"):
        per_seed = [
            json.loads((abl / folder_name(spec) / f"seed-{s}" / "metrics.json").read_text())
            for s in (0, 1)
        ]
        maes = [m["test"]["MAE"] for m in per_seed]
        assert rows[spec]["MAE"]["mean"] == pytest.approx(np.mean(maes))
        assert rows[spec]["MAE"]["std"] == pytest.approx(np.std(maes, ddof=1))
    config = json.loads((abl / folder_name("mmcl:csd=none") / "seed-0" / "config.json").read_text())
    assert config["mmcl"]["csd"] == "none" and config["mmcl"]["variant"] == "corrected"


def test_iemocap_predictions_and_heatmaps(tmp_path):
    data = _synth(tmp_path, "mult", task="iemocap")
    run = tmp_path / "run"
    _ok(
        [
            "train",
            "--data",
            str(data),
            "--out",
            str(run),
            "--epochs",
            "1",
            *TINY,
            "--set",
            "train.diagnostics=true",
        ]
    )
    assert (run / "seed-0" / "diagnostics" / "sample0.png").stat().st_size > 1000
    _ok(["predict", str(run), "--out", str(tmp_path / "p.csv")])
    header = next(csv.reader((tmp_path / "p.csv").read_text().splitlines()))
    assert header == ["id", "prediction", "p_Neutral", "p_Happy", "p_Sad", "p_Angry", "label"]


def test_evaluate_without_data_uses_the_runs_own_data_for_every_seed(tmp_path):
    run = tmp_path / "run"
    _ok(
        [
            "train",
            "--data",
            "synthetic",
            "--model",
            "late_fusion",
            "--out",
            str(run),
            "--seeds",
            "2",
            "--epochs",
            "1",
            *TINY,
        ]
    )
    r = _ok(["evaluate", str(run)])
    assert "seed 0:" in r.output and "seed 1:" in r.output and "test MAE" in r.output
    for seed in (0, 1):
        evaluated = json.loads((run / f"seed-{seed}" / "eval-test.json").read_text())["metrics"]
        trained = json.loads((run / f"seed-{seed}" / "metrics.json").read_text())["test"]
        assert evaluated["MAE"] == pytest.approx(trained["MAE"], rel=1e-6)


def test_user_mistakes_get_clear_errors(tmp_path):
    data = _synth(tmp_path, "native")
    r = runner.invoke(
        app, ["train", "--data", str(data), "--out", str(tmp_path / "r"), "--set", "mmcl.variant=x"]
    )
    assert r.exit_code == 2 and "mmcl.variant = 'x'" in r.output
    r = runner.invoke(
        app, ["train", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "r")]
    )
    assert r.exit_code == 2 and "no such file or folder" in r.output
    _ok(["train", "--data", str(data), "--out", str(tmp_path / "r"), "--epochs", "1", *TINY])
    r = runner.invoke(
        app, ["train", "--data", str(data), "--out", str(tmp_path / "r"), "--epochs", "1", *TINY]
    )
    assert r.exit_code == 2 and "--resume" in r.output
    _ok(["data", "synth", "--out", str(tmp_path / "wide"), "--dims", "t=7,a=3,v=3"])
    r = runner.invoke(app, ["evaluate", str(tmp_path / "r"), "--data", str(tmp_path / "wide")])
    assert r.exit_code == 2 and "text trained 6-d, data 7-d" in r.output


def test_robustness_command_writes_report(tmp_path):
    data = _synth(tmp_path, "native")
    run = tmp_path / "run"
    _ok(["train", "--data", str(data), "--out", str(run), "--epochs", "1", *TINY])
    r = _ok(["robustness", str(run), "--data", str(data)])
    assert "| clean |" in r.output and "| audio zeroed |" in r.output
    # MMCL's pairwise CSD needs the trained length: a dropped modality is reported, as n/a
    assert "| audio dropped | n/a" in (run / "robustness.md").read_text()
    assert (run / "robustness.png").stat().st_size > 1000


def test_cross_dataset_evaluation_with_matching_dims(tmp_path):
    a = _synth(tmp_path / "a", "native")
    b = tmp_path / "b"
    _ok(
        [
            "data",
            "synth",
            "--out",
            str(b),
            "--n-train",
            "40",
            "--n-valid",
            "12",
            "--n-test",
            "30",
            "--seq-len",
            "4",
            "--dims",
            "t=6,a=3,v=3",
            "--seed",
            "7",
        ]
    )
    run = tmp_path / "run"
    _ok(
        [
            "train",
            "--data",
            str(a),
            "--model",
            "late_fusion",
            "--out",
            str(run),
            "--epochs",
            "1",
            *TINY,
        ]
    )
    _ok(["evaluate", str(run), "--data", str(b)])
    _ok(["evaluate", str(run), "--data", str(a)])  # the run's own data
    files = sorted(p.name for p in (run / "seed-0").glob("eval-*.json"))
    assert len(files) == 2 and "eval-test.json" in files  # both evaluations kept
    other = next(f for f in files if f != "eval-test.json")
    assert other.startswith("eval-test-b-")
    record = json.loads((run / "seed-0" / other).read_text())
    assert record["data"] == str(b) and np.isfinite(record["metrics"]["MAE"])
    own = json.loads((run / "seed-0" / "eval-test.json").read_text())
    assert own["data"] == str(a) and own["metrics"] != record["metrics"]


def test_compare_as_a_worker_of_a_shared_study(tmp_path):
    out, db = tmp_path / "cmp", tmp_path / "grid.db"
    args = ["compare", "--models", "late_fusion,unimodal:text", "--data", "synthetic"]
    args += ["--seeds", "1", "--epochs", "1", "--out", str(out), "--storage", str(db)]
    _ok(args)
    assert (out / "compare.md").is_file() and db.is_file()
    assert (out / folder_name("unimodal:text") / "seed-0" / "metrics.json").is_file()
    _ok(args)  # a second worker finds the grid done: nothing trains, the table stays
    assert "late_fusion" in (out / "compare.md").read_text()
