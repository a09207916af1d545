"""Robustness of a trained model, as the MMCL paper's open checks ask.

Perturbations of one split, each evaluated with the run's metrics:
- missing modality m, zeroed: its features set to 0 (lengths and masks kept);
- missing modality m, dropped: its features replaced by a single zero step (length 1), for
  models that accept a different length than they were trained on;
- temporal misalignment: modality m shifted later by k steps within its own length (the
  first k steps zero, the last k dropped);
- Gaussian noise: every modality plus noise of sigma times that feature's standard deviation
  over the split's unpadded steps.
"""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from pathlib import Path

import numpy as np

from mmcl.data.dataset import Split
from mmcl.evaluation.metrics import evaluate
from mmcl.evaluation.plots import pyplot, save_figure
from mmcl.models.base import TaskModel


def zeroed(split: Split, m: str) -> Split:
    return replace(split, features={**split.features, m: np.zeros_like(split.features[m])})


def dropped(split: Split, m: str) -> Split:
    x = split.features[m]
    return replace(
        split,
        features={**split.features, m: np.zeros((x.shape[0], 1, x.shape[2]), dtype=x.dtype)},
        lengths={**split.lengths, m: np.ones(x.shape[0], dtype=np.int64)},
    )


def shifted(split: Split, m: str, k: int) -> Split:
    """Each sample's unpadded steps of m moved k steps later (zeros enter at the start)."""
    x = np.asarray(split.features[m])
    out = np.zeros_like(x)
    for i, n in enumerate(split.lengths[m]):
        n = int(n)
        if k < n:
            out[i, k:n] = x[i, : n - k]
    return replace(split, features={**split.features, m: out})


def noisy(split: Split, sigma: float, seed: int = 0) -> Split:
    rng = np.random.default_rng(seed)
    feats = {}
    for m, x in split.features.items():
        x = np.asarray(x)
        valid = np.arange(x.shape[1])[None, :] < split.lengths[m][:, None]
        std = x[valid].std(axis=0) if valid.any() else np.zeros(x.shape[2])
        noise = rng.normal(size=x.shape).astype(x.dtype) * (sigma * std)
        feats[m] = (x + noise * valid[..., None]).astype(x.dtype)
    return replace(split, features=feats)


def _metrics(model: TaskModel, split: Split, metric_set: str) -> dict[str, float]:
    return evaluate(metric_set, model.predict(split), split.labels)


def robustness_report(
    model: TaskModel,
    split: Split,
    metric_set: str,
    shifts: tuple[int, ...] = (1, 2, 4),
    sigmas: tuple[float, ...] = (0.1, 0.5, 1.0),
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """{condition: metrics}; the first row is the unperturbed split."""
    rows = {"clean": _metrics(model, split, metric_set)}
    for m in split.features:
        rows[f"{m} zeroed"] = _metrics(model, zeroed(split, m), metric_set)
        try:
            rows[f"{m} dropped"] = _metrics(model, dropped(split, m), metric_set)
        except (RuntimeError, ValueError, IndexError):
            # the model needs the trained length (e.g. MMCL's pairwise CSD): reported as n/a
            rows[f"{m} dropped"] = {k: float("nan") for k in rows["clean"]}
        for k in shifts:
            if k < split.features[m].shape[1]:
                rows[f"{m} shifted +{k}"] = _metrics(model, shifted(split, m, k), metric_set)
    for s in sigmas:
        rows[f"noise sigma={s}"] = _metrics(model, noisy(split, s, seed), metric_set)
    return rows


def report_csv(rows: dict[str, dict[str, float]]) -> str:
    metrics = list(next(iter(rows.values())))
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["condition", *metrics])
    for name, vals in rows.items():
        w.writerow([name, *[repr(vals[k]) for k in metrics]])
    return buf.getvalue()


def report_markdown(rows: dict[str, dict[str, float]]) -> str:
    metrics = list(next(iter(rows.values())))
    lines = ["| condition | " + " | ".join(metrics) + " |", "|---|" + "---|" * len(metrics)]
    for name, vals in rows.items():
        cells = ["n/a" if np.isnan(vals[k]) else f"{vals[k]:.4f}" for k in metrics]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_report(rows: dict[str, dict[str, float]], metric: str, path: Path) -> None:
    plt = pyplot()
    names = list(rows)
    values = [rows[n][metric] for n in names]
    fig, ax = plt.subplots(figsize=(max(5, 0.45 * len(names)), 3.5))
    ax.bar(range(len(names)), values, color=["tab:green"] + ["tab:blue"] * (len(names) - 1))
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel(metric)
    ax.set_title(f"robustness: {metric} under perturbations", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)
