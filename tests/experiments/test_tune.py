"""`mmcl tune`: Optuna on validation data, resumable studies, workers sharing one SQLite study."""

import csv
import json

import optuna
import pytest

from mmcl.errors import UserError
from mmcl.experiments.train import train_from_options
from mmcl.experiments.tune import load_space, sampler_seed, tune, warmup_epochs
from mmcl.models.registry import MODELS

TINY = ["train.batch_size=32"]


def _trials(out):
    with open(out / "trials.csv") as f:
        return list(csv.DictReader(f))


def test_tune_resumes_study_and_best_recipe_trains(tmp_path):
    out = tmp_path / "tune"
    first = tune("synthetic", "late_fusion", 3, out, epochs=2, overrides=TINY, say=lambda _: None)
    assert first["trials"] == 3
    again = tune("synthetic", "late_fusion", 2, out, epochs=2, overrides=TINY, say=lambda _: None)
    assert again["trials"] == 5
    study = optuna.load_study(study_name="tune-late_fusion", storage=f"sqlite:///{out}/study.db")
    assert len(study.trials) == 5
    rows = _trials(out)
    assert [int(r["number"]) for r in rows] == [0, 1, 2, 3, 4]
    assert {"optimization-history.png", "param-importances.png"} <= {p.name for p in out.iterdir()}
    # the test split is never read during tuning: no trial has test metrics (a pruned trial
    # stops before writing any)
    for row in rows:
        assert row["state"] in ("COMPLETE", "PRUNED")
        if row["state"] == "PRUNED":  # never within its warm-up epochs
            assert int(row["epochs_reported"]) > warmup_epochs(2), row
        # neither a finished nor a pruned trial resumes: no checkpoint is kept
        assert not (tmp_path / row["folder"] / "checkpoint").exists()
        if row["state"] == "COMPLETE":
            metrics = json.loads((tmp_path / row["folder"] / "metrics.json").read_text())
            assert "test" not in metrics and "valid" in metrics
    # the best recipe is the best trial's settings, and it trains (with test metrics as usual)
    best = (out / "best.toml").read_text()
    lr = study.best_trial.params["train.lr"]
    assert f"lr = {lr!r}" in best or f"lr = {json.dumps(lr)}" in best
    summary = train_from_options(
        str(out / "best.toml"), None, None, 1, [], tmp_path / "final", 1, False, lambda _: None
    )
    assert "Non0_acc_2" in summary["test"]


def test_two_workers_share_one_sqlite_study(tmp_path):
    out = tmp_path / "tune"
    db = tmp_path / "shared.db"
    result = tune(
        "synthetic",
        "late_fusion",
        4,
        out,
        storage=str(db),
        study="shared",
        jobs=2,
        epochs=2,
        overrides=TINY,
        say=lambda _: None,
    )
    assert result["trials"] == 4
    rows = _trials(out)
    assert len(rows) == 4 and all(r["state"] in ("COMPLETE", "PRUNED") for r in rows), rows
    # both processes contributed trials; one's may all be pruned (the other's two finished
    # first and set the median), so every finished trial counts, not only the completed ones
    workers = {r["worker"] for r in rows}
    assert len(workers) == 2, workers


def test_search_space_errors_are_named(tmp_path):
    bad = tmp_path / "space.toml"
    bad.write_text('[params]\n"train.lr" = { low = 1.0, high = 0.1 }\n')
    with pytest.raises(UserError, match="params.train.lr"):
        load_space("mmcl", bad)
    unknown = tmp_path / "unknown.toml"
    unknown.write_text('[params]\n"late_fusion.widht" = { choices = [1, 2] }\n')
    with pytest.raises(UserError, match="widht"):
        tune("synthetic", "late_fusion", 1, tmp_path / "t", space=unknown, say=lambda _: None)
    assert not (tmp_path / "t" / "trials").exists()  # refused before the first trial


@pytest.mark.parametrize("model", sorted(MODELS))
def test_every_model_ships_a_search_space_of_its_own_fields(model):
    from dataclasses import fields

    from mmcl.config import TrainConfig

    known = {f"train.{f.name}" for f in fields(TrainConfig)}
    known |= {f"{model}.{f.name}" for f in fields(MODELS[model][0])}
    assert set(load_space(model)) <= known


@pytest.mark.parametrize("model", ["mmcl", "shared_private_cov", "self_mm"])
def test_text_finetune_spaces_name_fields_of_their_model(model):
    from dataclasses import fields
    from importlib import resources

    from mmcl.config import TrainConfig

    space = resources.files("mmcl.recipes").joinpath("spaces", f"{model}_text_finetune.toml")
    params = load_space(model, str(space))
    known = {f"train.{f.name}" for f in fields(TrainConfig)}
    known |= {f"{model}.{f.name}" for f in fields(MODELS[model][0])}
    assert set(params) <= known
    assert f"{model}.text_lr" in params  # what the features space cannot search


@pytest.mark.parametrize(("epochs", "warmup"), [(1, 1), (3, 1), (8, 2), (20, 5)])
def test_pruning_waits_for_a_quarter_of_the_epochs(epochs, warmup):
    assert warmup_epochs(epochs) == warmup


def test_studies_resumed_or_of_other_names_sample_from_other_seeds():
    seeds = {
        sampler_seed(study, n_before, worker)
        for study in ("tune-mmcl", "tune-self_mm")
        for n_before in (0, 8)
        for worker in (0, 1)
    }
    assert len(seeds) == 8
