"""scripts/make_results.py, the generator of docs/results.md: the run records it keeps in
git (so a fresh checkout resumes and rewrites the document without retraining) and the
tables it carries over when their runs were not kept."""

import json
from pathlib import Path

import pytest
from tests.conftest import script_module


@pytest.fixture(scope="module")
def mr():
    with script_module("make_results") as module:
        yield module


def fake_run(seed_dir: Path, finished: bool) -> None:
    seed_dir.mkdir(parents=True)
    (seed_dir / "config.json").write_text('{"seed": 0}\n')
    (seed_dir / "log.jsonl").write_text('{"epoch": 1, "seconds": 2.0}\n')
    (seed_dir / "model.safetensors").write_bytes(b"weights")
    (seed_dir / "checkpoint").mkdir()
    (seed_dir / "checkpoint" / "state.json").write_text("{}")
    if finished:
        (seed_dir / "metrics.json").write_text(json.dumps({"test": {"MAE": 0.5}}))


def test_records_keep_finished_runs_without_weights_and_resume_them(mr, tmp_path):
    exp = next(e for e in mr.EXPERIMENTS if e.folder == "mosi-finetune-whole")
    out, records = tmp_path / "runs", tmp_path / "records"
    row = out / exp.folder / "mmcl"
    fake_run(row / "seed-0", finished=True)
    fake_run(row / "seed-1", finished=False)
    (row / "summary.json").write_text("{}")

    assert mr.save_records(out, exp, records) == 1
    kept = sorted(p.relative_to(records).as_posix() for p in records.rglob("*") if p.is_file())
    assert kept == [
        f"{exp.folder}/mmcl/seed-0/config.json",
        f"{exp.folder}/mmcl/seed-0/log.jsonl",
        f"{exp.folder}/mmcl/seed-0/metrics.json",
        f"{exp.folder}/mmcl/summary.json",
    ]

    fresh = tmp_path / "fresh"
    mr.restore_records(fresh, exp, records)
    seed0 = fresh / exp.folder / "mmcl" / "seed-0"
    assert json.loads((seed0 / "metrics.json").read_text()) == {"test": {"MAE": 0.5}}
    assert not (seed0 / "model.safetensors").exists()
    assert not (fresh / exp.folder / "mmcl" / "seed-1").exists()


def test_restore_never_replaces_a_run_finished_here(mr, tmp_path):
    exp = mr.EXPERIMENTS[0]
    out, records = tmp_path / "runs", tmp_path / "records"
    fake_run(records / exp.folder / "mmcl" / "seed-0", finished=True)
    fake_run(out / exp.folder / "mmcl" / "seed-0", finished=True)
    local = out / exp.folder / "mmcl" / "seed-0" / "metrics.json"
    local.write_text(json.dumps({"test": {"MAE": 0.1}}))
    mr.restore_records(out, exp, records)
    assert json.loads(local.read_text()) == {"test": {"MAE": 0.1}}


DOC = """# Results

intro

## Real data

### First table

| run | MAE |
|---|---|
| a | 0.5 |

### Second table

text two

## Robustness

#### First table

robust text
"""


def test_previous_sections_split_a_document_by_table_heading(mr):
    sections = mr.previous_sections(DOC)
    assert set(sections) == {"### First table", "### Second table", "#### First table"}
    assert sections["### First table"] == "| run | MAE |\n|---|---|\n| a | 0.5 |"
    assert sections["### Second table"] == "text two"
    assert sections["#### First table"] == "robust text"


def test_a_carried_table_is_marked_once_however_often_it_is_carried(mr):
    exp = mr.EXPERIMENTS[0]
    once = mr.carried(mr.previous_sections(DOC), "### First table", exp, "abc1234")
    assert "| a | 0.5 |" in once
    assert once.count(mr.CARRIED) == 1
    assert "abc1234" in once and f"--only {exp.folder}" in once
    twice = mr.carried(mr.previous_sections(once), "### First table", exp, "def5678")
    assert twice == once  # the note keeps the commit the table was computed for


def test_claims_on_tables_not_computed_are_not_checked(mr):
    claims = [{"id": "x", "table": "absent", "kind": "better", "row": "a", "other": "b"}]
    # (the interpretation's citations of claims this list lacks are reported apart)
    assert [b for b in mr.check_claims({}, claims) if b.startswith("x")] == []


def test_the_best_rows_lead_is_set_against_its_std(mr):
    exp = next(e for e in mr.EXPERIMENTS if e.goal)
    per_seed = {
        "a": [{m: v for m in exp.goal} for v in (0.80, 0.82, 0.84)],  # mean 0.82, std 0.02
        "b": [{m: v for m in exp.goal} for v in (0.78, 0.79, 0.80)],  # mean 0.79
        "c": [{m: v for m in exp.goal} for v in (0.70, 0.71, 0.72)],
    }
    table = mr.Table(exp, per_seed, [0, 1, 2], {}, "Non0_acc_2")
    sentence = mr.lead_sentence(table)
    assert "`a` ahead of `b` by 0.030, more than its std (0.020)" in sentence
    per_seed["b"] = [{m: v for m in exp.goal} for v in (0.80, 0.81, 0.82)]  # mean 0.81
    assert "by 0.010, not more than its std" in mr.lead_sentence(table)


def test_mmsa_section_lists_reused_sides_commands_and_the_verdicts(mr, tmp_path, monkeypatch):
    def stamp(command):
        return {"command": command, "commit": "abc", "date": "2026-12-01", "data": "d",
                "seeds": 3, "epochs": None}  # fmt: skip

    saved = {
        "table": "| the table |",
        "notes": {},
        "verdicts": {"tfn": "within", "mfn": "above", "mult": ""},
        "welch_p": {"tfn": 0.61, "mfn": 0.012, "ef_lstm": float("nan")},
        "models": {
            "mfn": {
                "sides": {"MMSA 2.2.1": {"runs": []}, "mmcl": {"runs": [], "measured": stamp("b")}},
                "measured": stamp("a"),
            },
        },
    }  # fmt: skip
    path = tmp_path / "side-by-side.json"
    path.write_text(json.dumps(saved))
    monkeypatch.setattr(mr, "MMSA_SIDE", path)
    section = mr.mmsa_section()
    assert "- `a`\n- `b`\n" in section
    assert "above: `mfn`; within: `tfn`; below: none; MMSA's side not run: `mult`." in section
    assert "the means differ for `mfn` (p = 0.012), of the 2 tested; not tested" in section
    assert "either side: `ef_lstm`." in section
