import json

import pytest
from typer.testing import CliRunner

from mmcl.cli import app

runner = CliRunner()


@pytest.mark.parametrize(
    ("fmt", "task", "name"),
    [
        ("native", "classification", "nat"),
        ("mmsa", "regression", "a.pkl"),
        ("mult", "iemocap", "m.pkl"),
    ],
)
def test_synth_then_inspect_then_convert(tmp_path, fmt, task, name):
    out = tmp_path / name
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
            "20",
            "--n-valid",
            "6",
            "--n-test",
            "7",
            "--seq-len",
            "5",
            "--dims",
            "t=4,a=3,v=2",
        ],
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["data", "inspect", str(out), "--json"])
    assert r.exit_code == 0, r.output
    info = json.loads(r.output)
    assert info["splits"]["test"]["n"] == 7
    assert info["modalities"]["text"] == {"dim": 4, "padded_len": 5}
    r = runner.invoke(app, ["data", "convert", str(out), str(tmp_path / "conv")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "conv" / "manifest.json").is_file()


def test_synth_rejects_bad_options(tmp_path):
    r = runner.invoke(app, ["data", "synth", "--out", str(tmp_path / "x"), "--format", "csv"])
    assert r.exit_code == 2 and "--format must be one of" in r.output
    r = runner.invoke(
        app, ["data", "synth", "--out", str(tmp_path / "x"), "--task", "mmsa", "--format", "mult"]
    )
    assert r.exit_code == 2
    r = runner.invoke(
        app,
        [
            "data",
            "synth",
            "--out",
            str(tmp_path / "y"),
            "--format",
            "mult",
            "--task",
            "classification",
        ],
    )
    assert r.exit_code == 2 and "MulT format holds regression or IEMOCAP" in r.output
    assert not (tmp_path / "y").exists()


def _tiny_data(tmp_path, dims="t=6,a=3,v=3"):
    out = tmp_path / f"tiny-{dims}"
    args = ["data", "synth", "--out", str(out), "--n-train", "40", "--n-valid", "12"]
    r = runner.invoke(app, [*args, "--n-test", "12", "--seq-len", "4", "--dims", dims])
    assert r.exit_code == 0, r.output
    return out


def test_demo_refuses_a_non_empty_folder_it_did_not_make_and_leaves_it_alone(tmp_path):
    out = tmp_path / "mine"
    (out / "sub").mkdir(parents=True)
    (out / "notes.txt").write_text("keep me")
    (out / "sub" / "data.csv").write_text("1,2")
    r = runner.invoke(app, ["demo", "--data", "synthetic", "--out", str(out)])
    assert r.exit_code == 2 and "not made by `mmcl demo`" in r.output
    assert sorted(p.name for p in out.rglob("*")) == ["data.csv", "notes.txt", "sub"]
    assert (out / "notes.txt").read_text() == "keep me"


def test_demo_reruns_replace_only_what_the_demo_wrote(tmp_path):
    data, out = _tiny_data(tmp_path), tmp_path / "demo"
    r = runner.invoke(app, ["demo", "--data", str(data), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "| mmcl (test) |" in r.output and "| constant (test) |" in r.output
    assert "validation MAE" in r.output  # the demo recipe's selection metric, as configured
    (out / "mine.txt").write_text("added by the user")
    first = (out / "mmcl" / "seed-0" / "metrics.json").read_text()
    r = runner.invoke(app, ["demo", "--data", str(data), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert (out / "mine.txt").read_text() == "added by the user"
    assert json.loads((out / "mmcl" / "seed-0" / "metrics.json").read_text()) == json.loads(first)


def test_a_bug_shows_its_traceback_and_asks_for_a_report(monkeypatch):
    import mmcl.data.loader

    def broken(*args, **kwargs):
        raise ValueError("an internal invariant failed")

    monkeypatch.setattr(mmcl.data.loader, "load_data", broken)
    r = runner.invoke(app, ["data", "inspect", "synthetic"])
    assert r.exit_code == 1
    assert "Traceback" in r.output and "an internal invariant failed" in r.output
    assert "please report it" in r.output


def test_a_user_mistake_is_one_line_and_exit_2(tmp_path):
    r = runner.invoke(app, ["data", "inspect", str(tmp_path / "missing")])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert r.output.startswith("error:") and len(r.output.strip().splitlines()) == 1


def test_a_model_that_cannot_take_the_data_refuses_before_loading_it(tmp_path, monkeypatch):
    import mmcl.experiments.train

    data = _tiny_data(tmp_path, "t=6")

    def never(*args, **kwargs):
        raise AssertionError("the data was loaded")

    monkeypatch.setattr(mmcl.experiments.train, "load_data", never)
    r = runner.invoke(
        app, ["train", "--data", str(data), "--model", "mmcl", "--out", str(tmp_path / "r")]
    )
    assert r.exit_code == 2, r.output
    assert "mmcl needs at least 2 modalities" in r.output and "['text']" in r.output
    takes = r.output.split("Models that take it: ")[1].split(".")[0].split(", ")
    assert takes == [
        "ef_lstm",
        "late_fusion",
        "lf_dnn",
        "lmf",
        "mfm",
        "mfn",
        "mlf_dnn",
        "mlmf",
        "mtfn",
        "self_mm",
        "shared_private_cov",
        "tfn",
        "unimodal",
    ]


def test_text_only_data_trains_every_model_that_says_it_takes_it(tmp_path):
    data = _tiny_data(tmp_path, "t=6")
    for model in (
        "self_mm",
        "shared_private_cov",
        "ef_lstm",
        "tfn",
        "lmf",
        "mfn",
        "mfm",
        "lf_dnn",
        "late_fusion",
        "unimodal",
    ):
        out = tmp_path / model
        args = ["train", "--data", str(data), "--model", model, "--epochs", "1", "--out", str(out)]
        r = runner.invoke(
            app, [*args, "--set", "train.batch_size=16", "--set", "train.diagnostics=false"]
        )
        assert r.exit_code == 0, (model, r.output)


@pytest.mark.parametrize("model", ["mlf_dnn", "mtfn", "mlmf"])
def test_multi_task_models_train_on_unimodal_labels_and_refuse_data_without(tmp_path, model):
    small = {
        "mlf_dnn": ["mlf_dnn.hiddens={text=8, audio=4, vision=4}", "mlf_dnn.text_out=8"],
        "mtfn": ["mtfn.hiddens={text=8, audio=4, vision=4}", "mtfn.text_out=8"],
        "mlmf": ["mlmf.hiddens={text=8, audio=4, vision=4}"],
    }[model]
    sets = [x for opt in [*small, "train.diagnostics=false"] for x in ("--set", opt)]
    plain = _tiny_data(tmp_path)
    args = ["train", "--model", model, "--epochs", "1", *sets]
    r = runner.invoke(app, [*args, "--data", str(plain), "--out", str(tmp_path / "no")])
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    assert f"{model} is multi-task" in r.output and "--unimodal-labels" in r.output
    assert not (tmp_path / "no").exists()
    labelled = tmp_path / "uni"
    synth = ["data", "synth", "--out", str(labelled), "--n-train", "40", "--n-valid", "12"]
    r = runner.invoke(app, [*synth, "--n-test", "12", "--seq-len", "4", "--unimodal-labels"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, [*args, "--data", str(labelled), "--out", str(tmp_path / "yes")])
    assert r.exit_code == 0, r.output
    log = (tmp_path / "yes" / "seed-0" / "log.jsonl").read_text()
    assert "text_loss" in log and "audio_loss" in log


def test_unimodal_labels_need_a_regression_task(tmp_path):
    args = ["data", "synth", "--out", str(tmp_path / "s"), "--task", "iemocap"]
    r = runner.invoke(app, [*args, "--unimodal-labels"])
    assert r.exit_code == 2 and "--unimodal-labels needs --task regression" in r.output


def test_a_grid_with_a_row_that_cannot_take_the_data_trains_nothing(tmp_path):
    data = _tiny_data(tmp_path, "t=6")
    out = tmp_path / "grid"
    r = runner.invoke(
        app, ["compare", "--data", str(data), "--models", "late_fusion,mmcl", "--out", str(out)]
    )
    assert r.exit_code == 2 and "mmcl needs at least 2 modalities" in r.output
    assert not out.exists() or not any(out.rglob("config.json"))


def test_a_value_of_the_wrong_type_is_a_one_line_error(tmp_path):
    r = runner.invoke(
        app,
        ["train", "--data", "synthetic", "--out", str(tmp_path / "r"), "--set", "train.lr=fast"],
    )
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert "train.lr = 'fast' (str): expected float" in r.output


def test_two_trainings_into_one_folder_do_not_interleave(tmp_path):
    import json
    import os
    import socket

    out = tmp_path / "runs"
    out.mkdir()
    # this process holds the folder, as a training running beside this one would
    (out / ".mmcl.lock").write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname()}))
    r = runner.invoke(app, ["train", "--data", "synthetic", "--out", str(out), "--epochs", "1"])
    assert r.exit_code == 2 and f"in use by process {os.getpid()}" in r.output
    assert sorted(p.name for p in out.iterdir()) == [".mmcl.lock"]
