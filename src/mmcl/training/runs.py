"""Run folders: one per seed with its resolved config, weights, metrics, log and versions.

    DIR/seed-<s>/config.json        resolved config, seed, data description, package versions
    DIR/seed-<s>/model.safetensors  the validation-selected weights
    DIR/seed-<s>/metrics.json       valid and test metrics of those weights
    DIR/seed-<s>/log.jsonl          one line per epoch
    DIR/seed-<s>/checkpoint/        last-epoch state for --resume
    DIR/summary.{json,md,csv}       mean and std over seeds

`load_run` rebuilds a model from its folder without the training script.
"""

from __future__ import annotations

import json
import platform
import random
from dataclasses import replace
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file

from mmcl.data.dataset import Dataset
from mmcl.data.io import atomic_file
from mmcl.evaluation.report import csv_table, markdown_table, summarize
from mmcl.models.common import DataInfo, TaskModel
from mmcl.models.registry import build_model
from mmcl.training.config import RunConfig
from mmcl.training.trainer import WEIGHTS, Trainer

CONFIG, METRICS = "config.json", "metrics.json"


def write_json(path: Path, obj: Any) -> None:
    """Write JSON atomically (a temp file in the same folder, then a rename)."""
    with atomic_file(path) as f:
        json.dump(obj, f, indent=2, default=float)
        f.write("\n")


def write_text(path: Path, text: str) -> None:
    with atomic_file(path) as f:
        f.write(text)


def versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for pkg in ("mmcl", "torch", "numpy", "scikit-learn", "safetensors"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def data_info(ds: Dataset) -> DataInfo:
    return DataInfo(ds.dims(), ds.seq_lens(), ds.task)


def train_run(
    cfg: RunConfig, ds: Dataset, out: Path, resume: bool = False, on_epoch_end=None
) -> dict:  # noqa: ANN001
    """Train one seed (cfg.train.seed) into `out`; returns the metrics dict."""
    out = Path(out)
    if resume and (out / METRICS).is_file():
        return json.loads((out / METRICS).read_text())
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    if cfg.modalities:
        ds = ds.select_modalities(cfg.modalities)
    seed_everything(cfg.train.seed)
    info = data_info(ds)
    model = build_model(cfg.model, cfg.model_cfg(), info)
    write_json(
        out / CONFIG,
        {
            **cfg.to_dict(),
            "seed": cfg.train.seed,
            "data_info": info.to_dict(),
            "data_source": ds.source,
            "data_preset": ds.preset,
            "data_extraction": ds.extraction,
            "versions": versions(),
        },
    )
    result = Trainer(model, ds, cfg.train, out).fit(resume=resume, on_epoch_end=on_epoch_end)
    result["seed"] = cfg.train.seed
    if cfg.train.diagnostics:
        from mmcl.evaluation.diagnostics import write_diagnostics

        result["diagnostics"] = write_diagnostics(model, ds.splits["test"], out / "diagnostics")
    write_json(out / METRICS, result)
    return result


def train_seeds(
    cfg: RunConfig, ds: Dataset, out: Path, seeds: list[int], resume: bool = False
) -> dict[str, Any]:
    """Train one run per seed into out/seed-<s>/, then write the summary over seeds."""
    results = [
        train_run(
            replace(cfg, train=replace(cfg.train, seed=s)), ds, Path(out) / f"seed-{s}", resume
        )
        for s in seeds
    ]
    return write_summary(Path(out), results, name=cfg.model)


def write_summary(out: Path, results: list[dict], name: str) -> dict[str, Any]:
    summary = {
        "seeds": [r["seed"] for r in results],
        "selection": results[0]["selection"],
        "test": summarize([{k: v for k, v in r["test"].items() if k != "loss"} for r in results]),
        "valid": summarize([{k: v for k, v in r["valid"].items() if k != "loss"} for r in results]),
    }
    write_json(out / "summary.json", summary)
    write_text(
        out / "summary.md",
        f"Test metrics, mean ± std over seeds {summary['seeds']}\n\n"
        + markdown_table({name: summary["test"]}),
    )
    write_text(out / "summary.csv", csv_table({name: summary["test"]}))
    return summary


def seed_dirs(run_dir: Path) -> list[Path]:
    """The seed folders of a multi-seed run, or [run_dir] if it is one seed's folder."""
    run_dir = Path(run_dir)
    if (run_dir / CONFIG).is_file():
        return [run_dir]
    dirs = sorted(p for p in run_dir.glob("seed-*") if (p / CONFIG).is_file())
    if not dirs:
        raise FileNotFoundError(f"{run_dir}: not a run folder (no {CONFIG}, no seed-*/{CONFIG}).")
    return dirs


def load_run(run_dir: str | Path) -> tuple[TaskModel, RunConfig, dict]:
    """Rebuild a trained model from a seed folder: config.json + model.safetensors."""
    run_dir = Path(run_dir)
    saved = json.loads((run_dir / CONFIG).read_text())
    if not (run_dir / WEIGHTS).is_file():
        raise FileNotFoundError(f"{run_dir}: no {WEIGHTS}; the run did not finish an epoch.")
    core = {
        k: saved[k]
        for k in ("model", "data", "preset", "modalities", "train", saved["model"])
        if k in saved
    }
    cfg = RunConfig.from_dict(core)
    info = DataInfo.from_dict(saved["data_info"])
    model = build_model(cfg.model, cfg.model_cfg(), info)
    if cfg.train.normalize:
        model.enable_input_norm()  # its statistics come with the weights
    model.load_state_dict(load_file(str(run_dir / WEIGHTS)))
    model.eval()
    return model, cfg, saved
