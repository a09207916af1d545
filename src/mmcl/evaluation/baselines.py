"""Data-only floors: what a model must beat to have learned anything."""

from __future__ import annotations

import numpy as np

from mmcl.data.dataset import Dataset, Split, TaskSpec
from mmcl.evaluation.metrics import SELECTION_METRIC, evaluate, higher_is_better


def constant_predictions(train_labels: np.ndarray, task: TaskSpec, n: int) -> np.ndarray:
    """Predict the training mean (regression), or the majority class / per-task majority."""
    if task.kind == "regression":
        return np.full(n, float(np.mean(train_labels)))
    if task.kind == "multilabel":
        majority = (np.mean(train_labels, axis=0) > 0.5).astype(int)  # (K,)
        logits = np.eye(2)[majority]  # (K, 2): a one-hot "logit" per binary task
        return np.broadcast_to(logits, (n, *logits.shape)).copy()
    counts = np.bincount(train_labels, minlength=task.num_classes or 0)
    return np.broadcast_to(np.eye(len(counts))[counts.argmax()], (n, len(counts))).copy()


def pooled_features(split: Split) -> np.ndarray:
    """Masked mean over steps of every modality, concatenated: (N, sum of widths)."""
    cols = []
    for m, x in split.features.items():
        x = np.asarray(x, dtype=np.float64)
        valid = (np.arange(x.shape[1])[None, :] < split.lengths[m][:, None])[..., None]
        cols.append((x * valid).sum(1) / np.maximum(valid.sum(1), 1))
    return np.concatenate(cols, axis=1)


def linear_floor(ds: Dataset) -> tuple[np.ndarray, dict]:
    """Ridge (regression) or logistic regression (classification) on pooled features, the
    regularisation chosen on the VALIDATION split; returns test predictions and the choice."""
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.preprocessing import StandardScaler

    tr, va, te = (ds.splits[s] for s in ("train", "valid", "test"))
    scaler = StandardScaler().fit(pooled_features(tr))
    x_tr, x_va, x_te = (scaler.transform(pooled_features(s)) for s in (tr, va, te))
    metric = SELECTION_METRIC[ds.task.metric_set]
    higher = higher_is_better(metric)
    best = None
    for c in np.logspace(-3, 3, 13):
        if ds.task.kind == "regression":
            model = Ridge(alpha=float(c)).fit(x_tr, tr.labels)
            predict = model.predict
        elif ds.task.kind == "multiclass":
            model = LogisticRegression(C=1.0 / float(c), max_iter=2000).fit(x_tr, tr.labels)
            predict = model.decision_function
        else:
            models = [
                LogisticRegression(C=1.0 / float(c), max_iter=2000).fit(x_tr, tr.labels[:, k])
                for k in range(tr.labels.shape[1])
            ]

            def predict(x: np.ndarray, models: list = models) -> np.ndarray:
                scores = np.stack([m.decision_function(x) for m in models], 1)  # (N, K)
                return np.stack([np.zeros_like(scores), scores], -1)  # logits of [not, is]

        score = evaluate(ds.task.metric_set, predict(x_va), va.labels)[metric]
        if best is None or (score > best[0] if higher else score < best[0]):
            best = (score, float(c), predict)
    return best[2](x_te), {"regularisation": best[1], f"valid_{metric}": best[0]}
