"""The Python API: docs/api.md's examples run as written, in order, in an empty folder;
the package lists exactly its public names; the API reports mistakes as exceptions and
prints nothing unless asked."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import SHARED, needs_shared

import mmcl

DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"


def code_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


@needs_shared  # the import example reads the shared data
def test_the_docs_examples_run_as_written(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "shared").symlink_to(SHARED)  # the docs' `shared` folder
    (tmp_path / "examples").symlink_to(DOC.parents[1] / "examples")  # and their example video
    blocks = code_blocks(DOC.read_text())
    assert len(blocks) >= 9
    namespace: dict = {}
    for i, block in enumerate(blocks):
        try:
            exec(compile(block, f"docs/api.md block {i + 1}", "exec"), namespace)
        except Exception as e:  # name the block that broke
            raise AssertionError(f"docs/api.md block {i + 1} failed: {e!r}\n{block}") from e
    out = capsys.readouterr().out
    # the mistake example printed its message; the texts came back with the right signs
    assert "the run takes modalities" in out
    scores = dict((r["text"], r["score"]) for r in namespace["scores"])  # noqa: C402 - readable
    assert scores["what a lovely film"] > scores["a boring film"]


def test_every_documented_function_is_public_and_has_an_example():
    text = DOC.read_text()
    functions = [n for n in mmcl.__all__ if n != "UserError"]
    assert sorted(mmcl.__all__) == sorted({*functions, "UserError"})
    missing = [n for n in functions if f"mmcl.{n}(" not in text]
    assert not missing, f"docs/api.md has no example of {missing}"
    for name in mmcl.__all__:
        assert getattr(mmcl, name).__doc__, name
    with pytest.raises(AttributeError):
        mmcl.not_a_function  # noqa: B018


def test_help_lists_the_api():
    r = subprocess.run(
        [sys.executable, "-c", "import mmcl; help(mmcl)"], capture_output=True, text=True
    )
    assert r.returncode == 0
    for name in mmcl.__all__:
        assert name in r.stdout, name


def test_the_api_prints_nothing_unless_asked_and_raises_user_errors(tmp_path, capfd):
    result = mmcl.train("synthetic", "late_fusion", out=tmp_path / "r", epochs=1)
    captured = capfd.readouterr()
    assert captured.out == "" and "training" not in captured.err
    assert result.seeds == [tmp_path / "r" / "seed-0"]
    with pytest.raises(mmcl.UserError, match="unknown model"):
        mmcl.train("synthetic", "no_such_model", out=tmp_path / "x", epochs=1)
    with pytest.raises(mmcl.UserError, match="seeds = 0"):
        mmcl.train("synthetic", "late_fusion", out=tmp_path / "y", seeds=0)
    mmcl.train("synthetic", "late_fusion", out=tmp_path / "p", epochs=1, progress=True)
    assert "training" in capfd.readouterr().err


def test_overrides_take_python_values():
    from mmcl.api import settings

    got = settings(
        {"train.lr": 1e-3, "modalities": ["text", "audio"], "train.normalize": True,
         "tfn.hiddens": {"text": 8}, "mctn.source": "audio"}
    )  # fmt: skip
    assert got == [
        "train.lr=0.001",
        'modalities=["text", "audio"]',
        "train.normalize=true",
        'tfn.hiddens={"text" = 8}',
        'mctn.source="audio"',
    ]
    with pytest.raises(mmcl.UserError, match="not a config value"):
        settings({"train.lr": object()})


def test_the_tutorial_notebook_runs(tmp_path, monkeypatch, capsys):
    import json

    notebook = DOC.parents[1] / "examples" / "tutorial.ipynb"
    cells = json.loads(notebook.read_text())["cells"]
    code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    assert len(code) >= 4
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for i, source in enumerate(code):
        try:
            exec(compile(source, f"tutorial.ipynb code cell {i + 1}", "exec"), namespace)
        except Exception as e:
            raise AssertionError(f"tutorial.ipynb code cell {i + 1} failed: {e!r}") from e
    out = capsys.readouterr().out
    assert "late fusion test MAE" in out and "p = " in out and "predicted" in out
