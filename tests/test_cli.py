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
