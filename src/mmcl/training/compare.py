"""Compare models over seeds: one table, paired significance tests, a plot, the configs.

A model spec is a registry name, optionally followed by ':'-separated items: a bare
modality list selects modalities (`unimodal:text`, `late_fusion:audio+vision`), and
`key=value` sets one of the model's options (`shared_private_cov:lambda_cov=0`) or, with a
dot, any config field (`mmcl:train.lr=1e-3`).
"""

from __future__ import annotations

import os
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from mmcl.data.dataset import Dataset
from mmcl.evaluation.report import csv_table, markdown_table
from mmcl.models.registry import MODELS
from mmcl.training.config import RunConfig, resolve_config
from mmcl.training.runs import train_run, write_json, write_summary, write_text


def parse_spec(spec: str) -> tuple[str, list[str]]:
    """'unimodal:text' -> ('unimodal', ['modalities=["text"]'])."""
    name, *items = [p.strip() for p in spec.split(":")]
    if name not in MODELS:
        raise ValueError(
            f"--models: unknown model '{name}' in '{spec}'; choose from {sorted(MODELS)}."
        )
    overrides = []
    for item in items:
        if "=" in item:
            key, _, value = item.partition("=")
            overrides.append(f"{key if '.' in key else f'{name}.{key}'}={value}")
        elif item:
            mods = ", ".join(f'"{m}"' for m in item.split("+"))
            overrides.append(f"modalities=[{mods}]")
    return name, overrides


def folder_name(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in label)


def _train_job(cfg_dict: dict, data: Any, out: str) -> dict:
    """One (model, seed) run in a worker process: it loads the data itself."""
    import torch

    from mmcl.data.loader import load_data

    torch.set_num_threads(1)
    cfg = RunConfig.from_dict(cfg_dict)
    ds = data if isinstance(data, Dataset) else load_data(cfg.data, cfg.preset or None)
    return train_run(cfg, ds, Path(out), resume=True)


def paired_pvalues(first: list[dict], other: list[dict]) -> dict[str, float]:
    """Paired t-test across seeds (same seed, same split) of each metric against `first`."""
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


def plot_comparison(rows: dict[str, dict[str, dict[str, float]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    os.replace(tmp, path)


def run_compare(
    specs: list[str],
    ds: Dataset,
    out: Path,
    seeds: list[int],
    recipe: str | None = None,
    epochs: int | None = None,
    overrides: list[str] | None = None,
    data: str = "synthetic",
    jobs: int = 1,
) -> dict[str, Any]:
    """Train every spec for every seed into out/<spec>/seed-<s>/ and write the comparison."""
    if len(set(specs)) != len(specs):
        raise ValueError("--models lists a model twice.")
    cfgs: dict[str, RunConfig] = {}
    for spec in specs:
        name, extra = parse_spec(spec)
        # the recipe's [train] gives every model the same budget; a model section applies
        # only to its own model
        cfgs[spec] = resolve_config(recipe, name, data, epochs, [*(overrides or []), *extra])
    jobs_list = [
        (
            spec,
            replace(cfg, train=replace(cfg.train, seed=s)),
            out / folder_name(spec) / f"seed-{s}",
        )
        for spec, cfg in cfgs.items()
        for s in seeds
    ]
    if jobs > 1:
        data_arg = ds if data == "synthetic" else data
        with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
            futures = [
                pool.submit(_train_job, c.to_dict(), data_arg, str(o)) for _, c, o in jobs_list
            ]
            results = [f.result() for f in futures]
    else:
        results = [train_run(c, ds, o, resume=True) for _, c, o in jobs_list]
    per_spec: dict[str, list[dict]] = {spec: [] for spec in specs}
    for (spec, _, _), r in zip(jobs_list, results, strict=True):
        per_spec[spec].append(r)
    rows, per_seed = {}, {}
    for spec, rs in per_spec.items():
        rows[spec] = write_summary(out / folder_name(spec), rs, spec)["test"]
        per_seed[spec] = [{k: v for k, v in r["test"].items() if k != "loss"} for r in rs]
        write_json(out / "configs" / f"{folder_name(spec)}.json", cfgs[spec].to_dict())
    first = specs[0]
    pvalues = {spec: paired_pvalues(per_seed[first], per_seed[spec]) for spec in specs[1:]}
    metrics = list(rows[first])
    p_lines = [f"| vs {first} | " + " | ".join(metrics) + " |", "|---|" + "---|" * len(metrics)]
    for spec, ps in pvalues.items():
        p_lines.append(f"| {spec} | " + " | ".join(f"{ps[m]:.3g}" for m in metrics) + " |")
    selection = per_spec[first][0]["selection"]
    text = (
        f"# Model comparison on {ds.source}\n\n"
        f"Test metrics of the epoch with the best validation {selection['metric']}, "
        f"mean ± sample std over seeds {seeds}.\n\n"
        + markdown_table(rows)
        + f"\nPaired t-test p-values across seeds against {first} (NaN: fewer than 2 seeds or "
        "identical values).\n\n" + "\n".join(p_lines) + "\n"
    )
    write_text(out / "compare.md", text)
    write_text(out / "compare.csv", csv_table(rows))
    write_json(
        out / "compare.json",
        {"rows": rows, "per_seed": per_seed, "pvalues": pvalues, "seeds": seeds},
    )
    plot_comparison(rows, out / "compare.png")
    return {"rows": rows, "pvalues": pvalues, "per_seed": per_seed}
