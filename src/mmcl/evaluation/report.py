"""Mean +- std tables over seeds (Markdown and CSV) and paired tests across seeds."""

from __future__ import annotations

import csv
import io
import math
import warnings
from pathlib import Path

import numpy as np


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0 for a single value)."""
    arr = np.asarray(values, dtype=float)
    std = float(arr.std(ddof=1)) if len(arr) > 1 else 0.0
    return float(arr.mean()), std


def summarize(per_seed: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """{metric: {"mean", "std", "n"}} over the per-seed metric dicts (same keys in each)."""
    keys = list(per_seed[0]) if per_seed else []
    out = {}
    for k in keys:
        m, s = mean_std([r[k] for r in per_seed])
        out[k] = {"mean": m, "std": s, "n": len(per_seed)}
    return out


def _cell(stat: dict[str, float], digits: int) -> str:
    if math.isnan(stat["mean"]):
        return "nan"
    if stat.get("n", 2) < 2:  # one seed has no spread to report
        return f"{stat['mean']:.{digits}f}"
    return f"{stat['mean']:.{digits}f} ± {stat['std']:.{digits}f}"


def markdown_table(rows: dict[str, dict[str, dict[str, float]]], digits: int = 4) -> str:
    """rows: name -> summarize(...) output. One row per name, one column per metric."""
    metrics = list(next(iter(rows.values()))) if rows else []
    lines = ["| run | " + " | ".join(metrics) + " |", "|---|" + "---|" * len(metrics)]
    for name, stats in rows.items():
        lines.append(f"| {name} | " + " | ".join(_cell(stats[m], digits) for m in metrics) + " |")
    return "\n".join(lines) + "\n"


def csv_table(rows: dict[str, dict[str, dict[str, float]]]) -> str:
    metrics = list(next(iter(rows.values()))) if rows else []
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["run", "n_seeds"] + [f"{m}_{s}" for m in metrics for s in ("mean", "std")])
    for name, stats in rows.items():
        n = next(iter(stats.values()))["n"] if stats else 0
        w.writerow([name, n] + [repr(stats[m][s]) for m in metrics for s in ("mean", "std")])
    return buf.getvalue()


def paired_pvalues(first: list[dict], other: list[dict]) -> dict[str, float]:
    """Paired t-test across seeds (same seed, same split) of each metric against `first`;
    NaN with fewer than 2 seeds or identical values."""
    from scipy import stats  # imported here: most of a second that every run's start-up paid

    out = {}
    for k in first[0]:
        a = np.array([r[k] for r in first], dtype=float)
        b = np.array([r[k] for r in other], dtype=float)
        if len(a) < 2 or np.allclose(a, b):
            out[k] = float("nan")
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            out[k] = float(stats.ttest_rel(b, a).pvalue)
    return out


def pvalue_table(first: str, pvalues: dict[str, dict[str, float]]) -> str:
    """Markdown: one row per compared spec, one column per metric."""
    if not pvalues:
        return ""
    metrics = list(next(iter(pvalues.values())))
    lines = [f"| vs {first} | " + " | ".join(metrics) + " |", "|---|" + "---|" * len(metrics)]
    for spec, ps in pvalues.items():
        lines.append(f"| {spec} | " + " | ".join(f"{ps[m]:.3g}" for m in metrics) + " |")
    return "\n".join(lines) + "\n"


def format_summary(summary: dict, written: Path) -> str:
    """The console report of a multi-seed summary (as `experiments.runs.write_summary` makes)."""
    lines = [
        f"seeds {summary['seeds']}, selection: best validation {summary['selection']['metric']}"
    ]
    lines += [
        f"  test {k:<14} {v['mean']:.4f} ± {v['std']:.4f}" for k, v in summary["test"].items()
    ]
    return "\n".join([*lines, f"wrote {written}"])


def format_evaluation(records: list[dict], split: str) -> str:
    """The console report of `evaluate_run`: each seed's metrics, then mean ± std."""
    lines = [
        f"seed {r['seed']}: " + ", ".join(f"{k} {v:.4f}" for k, v in r["metrics"].items())
        for r in records
    ]
    if len(records) > 1:
        stats = summarize([r["metrics"] for r in records])
        lines += [f"  {split} {k:<14} {v['mean']:.4f} ± {v['std']:.4f}" for k, v in stats.items()]
    return "\n".join(lines)
