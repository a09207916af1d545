"""Heatmaps of what MMCL decides per sample: CSD weights (which steps are "common") and the
policy gates on the specific parts. Written as PNG files into a run folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from mmcl.data.batching import BatchSource
from mmcl.data.dataset import Split
from mmcl.evaluation.plots import pyplot, save_figure
from mmcl.models.base import TaskModel


@torch.no_grad()
def collect_extras(
    model: TaskModel, split: Split, n_samples: int
) -> tuple[dict[str, np.ndarray], list, dict]:
    """CSD weights and policy gates ("CSD P <m>", "gate <m>"), ids and valid lengths for the
    first `n_samples` of a split."""
    model.eval()
    source = BatchSource(split)
    batch = source.batch(torch.arange(min(n_samples, len(source))))
    out = model.run(batch)
    keep = {f"CSD P {m}": w.cpu().numpy() for m, w in out.csd_weights.items()}
    keep.update({f"gate {m}": g.cpu().numpy() for m, g in out.gates.items()})
    lengths = {m: mk.sum(1).tolist() for m, mk in batch.masks.items()}
    return keep, [split.ids[i] for i in range(len(batch))], lengths


def write_diagnostics(
    model: TaskModel, split: Split, folder: Path, n_samples: int = 4
) -> list[str]:
    """One PNG per sample with a panel per modality; returns the file names (none if the
    model exposes no CSD weights or gates)."""
    plt = pyplot()
    extras, ids, lengths = collect_extras(model, split, n_samples)
    if not extras:
        return []
    folder.mkdir(parents=True, exist_ok=True)
    names = sorted(extras)
    files = []
    for i, sample_id in enumerate(ids):
        fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 3.0), squeeze=False)
        for ax, key in zip(axes[0], names, strict=True):
            m = key.rsplit(" ", 1)[1]
            n = int(lengths[m][i])
            arr = extras[key][i]
            arr = arr[:n, :n] if arr.ndim == 2 else arr[None, :n]
            im = ax.imshow(arr, aspect="auto", cmap="viridis")
            ax.set_title(key, fontsize=9)
            ax.set_xlabel("step j" if arr.shape[0] > 1 else "step")
            if arr.shape[0] > 1:
                ax.set_ylabel("step i")
            else:
                ax.set_yticks([])
            fig.colorbar(im, ax=ax, fraction=0.046)
        fig.suptitle(f"sample {sample_id}", fontsize=10)
        fig.tight_layout()
        name = f"sample{i}.png"
        save_figure(fig, folder / name, dpi=80)
        files.append(name)
    return files
