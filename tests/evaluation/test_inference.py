"""Evaluating and predicting with a trained run, called directly."""

import csv

import numpy as np
import pytest

from mmcl.config import resolve_config
from mmcl.data.dataset import DataError
from mmcl.data.native import write_native
from mmcl.data.synthetic import SynthConfig, make_synthetic
from mmcl.evaluation.inference import (
    compatible_data,
    evaluate_run,
    predict_inputs,
    predictions_csv,
)
from mmcl.experiments.runs import train_seeds
from mmcl.run_folder import read_json


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("inference")
    cfg = SynthConfig(n_train=40, n_valid=12, n_test=10, seq_len=4, dims={"text": 6, "audio": 3})
    ds = make_synthetic(cfg)
    write_native(ds, root / "data")
    run_cfg = resolve_config(
        model="late_fusion",
        data=str(root / "data"),
        epochs=1,
        overrides=["train.diagnostics=false"],
    )
    train_seeds(run_cfg, ds, root / "run", [0, 1])
    return root, ds


def test_evaluate_run_writes_one_record_per_seed_matching_training(trained):
    root, _ = trained
    records = evaluate_run(root / "run", None, "test")
    assert [r["seed"] for r in records] == [0, 1]
    for r in records:
        trained_metrics = read_json(root / "run" / f"seed-{r['seed']}" / "metrics.json")["test"]
        assert r["metrics"]["MAE"] == pytest.approx(trained_metrics["MAE"], rel=1e-6)
    with pytest.raises(DataError, match="--split must be one of"):
        evaluate_run(root / "run", None, "dev")


def test_predict_inputs_writes_the_split_and_needs_an_output(trained, tmp_path):
    root, ds = trained
    seed_dir, n, records = predict_inputs(root / "run", out=tmp_path / "p.csv")
    assert n == len(ds.splits["test"]) and records == []
    rows = list(csv.DictReader((tmp_path / "p.csv").read_text().splitlines()))
    assert [r["id"] for r in rows] == list(ds.splits["test"].ids)
    assert seed_dir.name in ("seed-0", "seed-1")
    with pytest.raises(DataError, match="--out is required"):
        predict_inputs(root / "run")


def test_compatible_data_names_what_differs(trained):
    root, ds = trained
    saved = read_json(root / "run" / "seed-0" / "config.json")
    wider = make_synthetic(
        SynthConfig(n_train=8, n_valid=4, n_test=4, seq_len=4, dims={"text": 7, "audio": 3})
    )
    with pytest.raises(DataError, match="text trained 6-d, data 7-d"):
        compatible_data(wider, saved, "other")
    no_audio = ds.select_modalities(["text"])
    with pytest.raises(DataError, match=r"the data lacks \['audio'\]"):
        compatible_data(no_audio, saved, "other")
    classes = make_synthetic(
        SynthConfig(
            task="classification",
            n_train=8,
            n_valid=4,
            n_test=4,
            seq_len=4,
            dims={"text": 6, "audio": 3},
        )
    )
    with pytest.raises(DataError, match="predicts a regression task"):
        compatible_data(classes, saved, "other")


def test_predictions_csv_layout_per_task():
    reg = make_synthetic(SynthConfig(n_train=4, n_valid=2, n_test=3, seq_len=2))
    text = predictions_csv(reg, "test", np.array([0.5, -1.0, 0.0]))
    rows = list(csv.reader(text.splitlines()))
    assert rows[0] == ["id", "prediction", "polarity", "label"]
    assert [r[2] for r in rows[1:]] == ["positive", "negative", "neutral"]
    iemo = make_synthetic(SynthConfig(task="iemocap", n_train=4, n_valid=2, n_test=2, seq_len=2))
    logits = np.zeros((2, 4, 2))
    logits[0, 1, 1] = 5.0  # sample 0: Happy
    rows = list(csv.reader(predictions_csv(iemo, "test", logits).splitlines()))
    assert rows[0][:2] == ["id", "prediction"] and rows[1][1] == "Happy" and rows[2][1] == ""
