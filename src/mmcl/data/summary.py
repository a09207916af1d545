"""A plain-text summary of a dataset, for `mmcl data inspect` and run logs."""

from __future__ import annotations

import numpy as np

from mmcl.data.dataset import Dataset


def describe(ds: Dataset) -> dict:
    """Splits, modalities with shapes and lengths, label statistics, cleaning counts, preset."""
    out: dict = {
        "source": ds.source,
        "name": ds.name,
        "preset": ds.preset,
        "task": ds.task.to_dict(),
        "modalities": {m: {"dim": d, "padded_len": ds.seq_lens()[m]} for m, d in ds.dims().items()},
        "cleaned_nonfinite": dict(ds.cleaned),
        "splits": {},
    }
    for s, sp in ds.splits.items():
        info: dict = {"n": len(sp), "lengths": {}}
        for m, lens in sp.lengths.items():
            info["lengths"][m] = {
                "min": int(lens.min()),
                "mean": round(float(lens.mean()), 2),
                "max": int(lens.max()),
            }
        y = np.asarray(sp.labels)
        if ds.task.kind == "regression":
            info["labels"] = {
                "mean": round(float(y.mean()), 4),
                "std": round(float(y.std()), 4),
                "min": float(y.min()),
                "max": float(y.max()),
                "frac_pos": round(float((y > 0).mean()), 4),
                "frac_zero": round(float((y == 0).mean()), 4),
                "frac_neg": round(float((y < 0).mean()), 4),
            }
        elif ds.task.kind == "multilabel":
            names = ds.task.label_names or []
            info["labels"] = {n: round(float(y[:, i].mean()), 4) for i, n in enumerate(names)}
        else:
            counts = np.bincount(y, minlength=ds.task.num_classes or 0)
            info["labels"] = {str(c): int(k) for c, k in enumerate(counts)}
        if sp.unimodal_labels:
            info["unimodal_labels"] = sorted(sp.unimodal_labels)
        out["splits"][s] = info
    return out


def format_description(info: dict) -> str:
    lines = [
        f"source:  {info['source']}",
        "preset:  " + (info["preset"] or f"(none detected; generic {info['task']['metric_set']})"),
        f"task:    {info['task']['kind']} (metrics: {info['task']['metric_set']}"
        + (f", range {info['task']['label_range']}" if info["task"]["label_range"] else "")
        + ")",
        "modalities:",
    ]
    for m, d in info["modalities"].items():
        lines.append(f"  {m:<8} dim {d['dim']:<5} padded length {d['padded_len']}")
    cleaned = info["cleaned_nonfinite"]
    lines.append(
        "non-finite values replaced by 0: "
        + (", ".join(f"{k} {v}" for k, v in cleaned.items()) if cleaned else "none")
    )
    for s, sp in info["splits"].items():
        lens = ", ".join(f"{m} {v['min']}/{v['mean']}/{v['max']}" for m, v in sp["lengths"].items())
        lines.append(f"{s:<6} n={sp['n']:<6} lengths min/mean/max: {lens}")
        lines.append(f"       labels: {sp['labels']}")
    return "\n".join(lines)
