"""Metrics exactly as MMSA (regression sets) and MulT (IEMOCAP) compute them.

Pure array code: numpy in, floats out. Values are fractions, as MMSA returns them; MMSA also
rounds to 4 places, which we leave to reports so that means over seeds are not biased by it.
"""

from __future__ import annotations

import warnings

import numpy as np

from mmcl.data.presets import IEMOCAP_EMOTIONS

TASKS = ("mosi", "mosei", "sims", "iemocap", "regression", "classification")

# The metric each set uses to pick the best epoch on validation data, and whether higher is better.
# the metric each metric set selects models by (on VALIDATION data)
SELECTION_METRIC: dict[str, str] = {
    "mosi": "Non0_acc_2",
    "mosei": "Non0_acc_2",
    "sims": "Mult_acc_2",
    "iemocap": "Mean_F1",
    "regression": "MAE",
    "classification": "F1_weighted",
}
# errors and losses; every other metric (accuracies, F1, Corr) is better when higher
LOWER_IS_BETTER = frozenset({"MAE", "RMSE", "loss"})


# scikit-learn is imported when a metric is first computed: importing it takes about a
# second, which every process importing the trainer would otherwise pay at start-up


def _accuracy(truth: np.ndarray, preds: np.ndarray) -> float:
    from sklearn.metrics import accuracy_score

    return float(accuracy_score(truth, preds))


def _f1(truth: np.ndarray, preds: np.ndarray, average: str) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(truth, preds, average=average, zero_division=0))


def higher_is_better(metric: str) -> bool:
    """Whether larger values of `metric` are better (the one place this is decided)."""
    return not (metric in LOWER_IS_BETTER or metric.endswith("_loss"))


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation; NaN when either side is constant (as np.corrcoef gives)."""
    if a.std() == 0 or b.std() == 0:
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(np.corrcoef(a, b)[0, 1])


def _multiclass_acc(preds: np.ndarray, truths: np.ndarray) -> float:
    # np.round rounds half to even (2.5 -> 2), as MMSA does.
    return float(np.mean(np.round(preds) == np.round(truths)))


def _mosi(preds: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    non_zero = truth != 0
    nz_truth, nz_preds = truth[non_zero] > 0, preds[non_zero] > 0
    has0_truth, has0_preds = truth >= 0, preds >= 0
    return {
        "Has0_acc_2": _accuracy(has0_truth, has0_preds),
        "Has0_F1_score": _f1(has0_truth, has0_preds, "weighted"),
        "Non0_acc_2": _accuracy(nz_truth, nz_preds) if non_zero.any() else float("nan"),
        "Non0_F1_score": _f1(nz_truth, nz_preds, "weighted") if non_zero.any() else float("nan"),
        "Mult_acc_5": _multiclass_acc(np.clip(preds, -2, 2), np.clip(truth, -2, 2)),
        "Mult_acc_7": _multiclass_acc(np.clip(preds, -3, 3), np.clip(truth, -3, 3)),
        "MAE": float(np.mean(np.abs(preds - truth))),
        "Corr": _corr(preds, truth),
    }


def _intervals(x: np.ndarray, inner_edges: list[float]) -> np.ndarray:
    """Class of each value for left-open, right-closed intervals split at `inner_edges`."""
    return np.sum(x[:, None] > np.asarray(inner_edges)[None, :], axis=1)


def _sims(preds: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    preds, truth = np.clip(preds, -1, 1), np.clip(truth, -1, 1)
    edges = {2: [0.0], 3: [-0.1, 0.1], 5: [-0.7, -0.1, 0.1, 0.7]}
    cls = {k: (_intervals(preds, e), _intervals(truth, e)) for k, e in edges.items()}
    return {
        "Mult_acc_2": float(np.mean(cls[2][0] == cls[2][1])),
        "Mult_acc_3": float(np.mean(cls[3][0] == cls[3][1])),
        "Mult_acc_5": float(np.mean(cls[5][0] == cls[5][1])),
        "F1_score": _f1(cls[2][1], cls[2][0], "weighted"),
        "MAE": float(np.mean(np.abs(preds - truth))),
        "Corr": _corr(preds, truth),
    }


def _iemocap(preds: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    k = len(IEMOCAP_EMOTIONS)
    logits = preds.reshape(-1, k, 2)
    truth = labels.argmax(-1) if labels.ndim == 3 else labels.reshape(-1, k)
    out: dict[str, float] = {}
    for i, emo in enumerate(IEMOCAP_EMOTIONS):
        pred_i = logits[:, i].argmax(axis=1)
        out[f"{emo}_acc"] = _accuracy(truth[:, i], pred_i)
        out[f"{emo}_F1"] = _f1(truth[:, i], pred_i, "weighted")
    out["Mean_acc"] = float(np.mean([out[f"{e}_acc"] for e in IEMOCAP_EMOTIONS]))
    out["Mean_F1"] = float(np.mean([out[f"{e}_F1"] for e in IEMOCAP_EMOTIONS]))
    return out


def _regression(preds: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    return {
        "MAE": float(np.mean(np.abs(preds - truth))),
        "RMSE": float(np.sqrt(np.mean((preds - truth) ** 2))),
        "Corr": _corr(preds, truth),
    }


def _classification(preds: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    pred_cls = preds.argmax(axis=1) if preds.ndim == 2 else preds.astype(np.int64)
    truth = labels.reshape(-1).astype(np.int64)
    return {
        "Acc": _accuracy(truth, pred_cls),
        "F1_weighted": _f1(truth, pred_cls, "weighted"),
        "F1_macro": _f1(truth, pred_cls, "macro"),
    }


def evaluate(task: str, preds: object, labels: object) -> dict[str, float]:
    """Metrics of `task` (one of TASKS) for predictions and labels.

    Regression sets: preds and labels (N,) scores. iemocap: preds (N, 4, 2) logits, labels (N, 4)
    in {0, 1} or one-hot (N, 4, 2). classification: preds (N, C) scores or (N,) classes.
    """
    p = np.asarray(preds, dtype=np.float64)
    y = np.asarray(labels)
    if task not in TASKS:
        raise ValueError(f"unknown metric task '{task}'; choose one of {TASKS}.")
    if len(p) != len(y):
        raise ValueError(f"{len(p)} predictions for {len(y)} labels.")
    if len(p) == 0:
        raise ValueError("no predictions to evaluate.")
    if task == "iemocap":
        return _iemocap(p, y)
    if task == "classification":
        return _classification(p, y)
    p, y = p.reshape(-1), y.astype(np.float64).reshape(-1)
    if task in ("mosi", "mosei"):
        return _mosi(p, y)
    if task == "sims":
        return _sims(p, y)
    return _regression(p, y)
