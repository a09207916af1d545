"""Predictions of a model for a whole split, and their metrics."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from mmcl.data.batching import BatchSource
from mmcl.data.dataset import Split
from mmcl.evaluation.metrics import evaluate
from mmcl.models.base import TaskModel, task_loss


@dataclass
class EvalResult:
    preds: np.ndarray
    loss: float
    metrics: dict[str, float]


@torch.no_grad()
def predict(model: TaskModel, source: BatchSource | Split, batch_size: int = 256) -> np.ndarray:
    """Predictions for a whole split, in its order, with the model in eval mode."""
    if isinstance(source, Split):
        source = BatchSource(source)
    model.eval()
    outs = [model.run(b).preds for b in source.batches(batch_size)]
    return torch.cat(outs).cpu().numpy()


def evaluate_split(model: TaskModel, source: BatchSource | Split, metric_set: str) -> EvalResult:
    """Predictions, task loss and metrics of `model` on a split."""
    if isinstance(source, Split):
        source = BatchSource(source)
    preds = predict(model, source)
    labels = source.labels
    loss = float(task_loss(torch.from_numpy(preds), labels, model.info.task))
    return EvalResult(preds, loss, evaluate(metric_set, preds, labels.numpy()))
