"""Data-only floors: what a model must beat to have learned anything."""

from __future__ import annotations

import numpy as np

from mmcl.data.dataset import TaskSpec


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
