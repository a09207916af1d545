"""Matplotlib set up once for files, not screens, and figures saved atomically."""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # matplotlib takes half a second to import: only plotting loads it
    from matplotlib.figure import Figure


def pyplot() -> ModuleType:
    """matplotlib.pyplot on the file-only Agg backend (no display is ever needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Figure, path: Path, dpi: int = 90) -> None:
    """Write `fig` to `path` through a temporary file and a rename, then close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
    fig.savefig(tmp, dpi=dpi)
    pyplot().close(fig)
    os.replace(tmp, path)


def plot_comparison(rows: dict[str, dict[str, dict[str, float]]], path: Path) -> None:
    """One bar panel per metric: each row's mean with its std over seeds."""
    plt = pyplot()
    metrics = list(next(iter(rows.values())))
    cols = min(4, len(metrics))
    n_rows = -(-len(metrics) // cols)
    fig, axes = plt.subplots(n_rows, cols, figsize=(3.6 * cols, 3.0 * n_rows), squeeze=False)
    labels = list(rows)
    for ax, metric in zip(axes.flat, metrics, strict=False):
        means = [rows[lab][metric]["mean"] for lab in labels]
        stds = [rows[lab][metric]["std"] for lab in labels]
        ax.bar(range(len(labels)), means, yerr=stds, capsize=3, color="tab:blue", alpha=0.8)
        ax.set_title(metric, fontsize=9)
        ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right", fontsize=7)
    for ax in list(axes.flat)[len(metrics) :]:
        ax.axis("off")
    fig.suptitle("test metrics, mean ± std over seeds", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
