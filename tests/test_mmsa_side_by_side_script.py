"""benchmarks/mmsa_side_by_side.py, whose saved file docs/results.md shows: the table and
verdict it computes, and how --only-mmsa / --only-ours reruns keep each side's own stamp.
MMSA itself is not needed here (nothing is trained)."""

import argparse
import json

import pytest
from tests.conftest import script_module


@pytest.fixture(scope="module")
def sbs():
    with script_module("mmsa_side_by_side", folder="benchmarks") as module:
        yield module


def side(*accuracies: float, params: int = 100) -> dict:
    runs = [
        {"seed": k, "params": params, "epochs": 10, "seconds_per_epoch": 1.0,
         "Non0_acc_2": acc, "Corr": 0.5, "MAE": 1.0}
        for k, acc in enumerate(accuracies)
    ]  # fmt: skip
    return {"runs": runs}


@pytest.mark.parametrize(
    ("ours", "said"), [((0.80, 0.82), "above"), ((0.72, 0.80), "within"), ((0.70,), "below")]
)
def test_verdict_sets_our_mean_against_mmsas_seed_range(sbs, ours, said):
    assert sbs.verdict({"MMSA 2.2.1": side(0.74, 0.78), "mmcl": side(*ours)}) == said


def test_welch_p_tells_a_gap_the_seeds_explain_from_one_they_do_not(sbs):
    mmsa = side(0.80, 0.81, 0.79)
    assert sbs.welch_p({"MMSA 2.2.1": mmsa, "mmcl": side(0.795, 0.80, 0.785)}) > 0.3
    assert sbs.welch_p({"MMSA 2.2.1": mmsa, "mmcl": side(0.70, 0.71, 0.705)}) < 0.01
    assert sbs.welch_p({"MMSA 2.2.1": mmsa, "mmcl": side(0.70)}) is None
    # MMSA's 4 decimals against our unrounded score of the same predictions: no spread
    same = sbs.welch_p({"MMSA 2.2.1": side(0.4223, 0.4223), "mmcl": side(0.42226, 0.42226)})
    assert same != same  # NaN
    assert sbs.welch_p({"MMSA 2.2.1": {"error": "no MMSA"}, "mmcl": mmsa}) is None


def test_a_side_scoring_a_one_signed_predictor_in_every_seed_is_noted(sbs):
    shares = {"positive": 0.4223, "negative": 0.5777}
    sides = {"MMSA 2.2.1": side(0.42226, 0.4223, 0.42231), "mmcl": side(0.4223, 0.79)}
    note = sbs.one_signed(sides, shares)
    assert note.startswith("MMSA 2.2.1: every seed's test Non0_acc_2 is 0.4223, the share of ")
    assert "mmcl" not in note
    assert sbs.one_signed(sides, None) == ""
    assert sbs.one_signed({"not comparable": "needs BERT"}, shares) == ""


def test_cell_leaves_an_undefined_corr_out_and_counts_it(sbs):
    runs = [{"Corr": float("nan")}, {"Corr": 0.5}, {"Corr": 0.7}]
    assert sbs.cell(runs, "Corr") == "0.600 ± 0.141 (1 undefined)"


def rerun_only_mmsa(sbs, path, model: str, commit: str) -> None:
    """What `--models <model> --only-mmsa --save <path>` does, MMSA's side stubbed."""
    found = {model: {"MMSA 2.2.1": side(0.78), "mmcl": sbs.saved_side(path, model, "mmcl")}}
    args = argparse.Namespace(save=path, data="data/mosi", seeds=1, epochs=None)
    sbs.save(args, found)
    saved = json.loads(path.read_text())
    saved["models"][model]["measured"]["commit"] = commit  # as if run at that commit
    path.write_text(json.dumps(saved))


def test_a_side_reused_twice_keeps_the_stamp_of_the_run_that_measured_it(sbs, tmp_path):
    path = tmp_path / "side-by-side.json"
    stamp = {"command": "both sides", "commit": "aaaaaaa", "date": "2026-12-01", "data": "d",
             "seeds": 1, "epochs": None}  # fmt: skip
    both = {"sides": {"MMSA 2.2.1": side(0.75), "mmcl": side(0.77)}, "measured": stamp}
    path.write_text(json.dumps({"models": {"mfn": both}}))

    rerun_only_mmsa(sbs, path, "mfn", "bbbbbbb")
    rerun_only_mmsa(sbs, path, "mfn", "ccccccc")

    entry = json.loads(path.read_text())["models"]["mfn"]
    assert entry["measured"]["commit"] == "ccccccc"
    assert entry["sides"]["mmcl"]["measured"]["commit"] == "aaaaaaa"
    assert "(mmcl: aaaaaaa, 2026-12-01)" in sbs.stamp_text(entry)


def test_saved_table_lists_models_in_the_zoos_order(sbs, tmp_path):
    path = tmp_path / "side-by-side.json"
    args = argparse.Namespace(save=path, data="data/mosi", seeds=1, epochs=None)
    sbs.save(args, {"graph_mfn": {"MMSA 2.2.1": side(0.75), "mmcl": side(0.77)}})
    sbs.save(args, {"tfn": {"MMSA 2.2.1": side(0.75), "mmcl": side(0.77)}})
    variant = "tfn" + sbs.ON_MMSA_PICKLE  # ours on MMSA's pickle: next to its model
    sbs.save(args, {variant: {"MMSA 2.2.1": side(0.75), "mmcl": side(0.76)}})
    saved = json.loads(path.read_text())
    assert list(saved["models"]) == ["tfn", variant, "graph_mfn"]
    rows = [line.split("|")[1].strip() for line in saved["table"].splitlines()[2:]]
    assert rows == ["`tfn`", "`tfn`", f"`{variant}`", f"`{variant}`", "`graph_mfn`", "`graph_mfn`"]
