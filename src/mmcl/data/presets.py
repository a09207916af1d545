"""Dataset presets: task type, label range, metric set and usual feature widths.

Detection uses what is in the file (label shape, unimodal labels, split sizes); a user
overrides it by name (`--preset mosi`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mmcl.data.dataset import DataError, TaskSpec

IEMOCAP_EMOTIONS = ["Neutral", "Happy", "Sad", "Angry"]


@dataclass(frozen=True)
class Preset:
    name: str
    task: TaskSpec
    split_sizes: tuple[int, int, int] | None
    usual_dims: str
    note: str = ""


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in [
        Preset(
            "mosi",
            TaskSpec("regression", "mosi", (-3.0, 3.0)),
            (1284, 229, 686),
            "text 768 (BERT) or 300 (GloVe), audio 5 (COVAREP subset) or 74, vision 20 or 47",
        ),
        Preset(
            "mosei",
            TaskSpec("regression", "mosei", (-3.0, 3.0)),
            (16326, 1871, 4659),
            "text 768 or 300, audio 74, vision 35",
        ),
        Preset(
            "sims",
            TaskSpec("regression", "sims", (-1.0, 1.0)),
            (1368, 456, 457),
            "text 768, audio 33, vision 709",
            "unimodal labels T/A/V",
        ),
        Preset(
            "simsv2",
            TaskSpec("regression", "sims", (-1.0, 1.0)),
            (2722, 647, 1034),
            "text 768, audio 25, vision 177",
            "unimodal labels T/A/V",
        ),
        Preset(
            "iemocap",
            TaskSpec("multilabel", "iemocap", label_names=list(IEMOCAP_EMOTIONS)),
            (2717, 798, 938),
            "text 300, audio 74, vision 35 (MulT, aligned to 20 steps)",
        ),
        Preset(
            "iemocap6",
            TaskSpec("multiclass", "classification", num_classes=6),
            (5163, 647, 1623),
            "text only (COSMIC split): happy, sad, neutral, angry, excited, frustrated",
        ),
        Preset(
            "mmmo",
            TaskSpec("regression", "regression", (1.0, 5.0)),
            (220, 40, 80),
            "audio 74, vision 36 (MFN, 20 word-aligned steps)",
        ),
        Preset(
            "youtube",
            TaskSpec("multiclass", "classification", num_classes=3),
            (173, 36, 60),
            "audio 74, vision 36 (MFN, 20 steps; mostly zeros)",
        ),
        Preset(
            "cmdc",
            TaskSpec("regression", "regression", (0.0, 27.0)),
            None,
            "user features; PHQ-9 total in [0, 27]",
        ),
    ]
}


def get_preset(name: str) -> Preset:
    key = name.lower().replace("-", "").replace("_", "")
    if key not in PRESETS:
        raise DataError(f"unknown preset '{name}'; choose one of {sorted(PRESETS)}.")
    return PRESETS[key]


def detect_regression_preset(sizes: tuple[int, ...], labels: np.ndarray) -> str | None:
    """Best guess of a regression preset from split sizes and label range; None if unsure."""
    for p in PRESETS.values():
        if p.split_sizes == sizes and p.task.kind == "regression":
            return p.name
    labels = np.asarray(labels, dtype=float)
    if labels.size == 0 or not np.isfinite(labels).all():
        return None  # nothing to tell by; the split checks will say what is wrong
    lo, hi = float(np.min(labels)), float(np.max(labels))
    if lo >= -1.0 and hi <= 1.0:
        return "sims"
    if lo >= -3.0 and hi <= 3.0:
        return "mosi"
    return None
