"""Train one seed into a run folder (see `mmcl.run_folder` for its layout), or several seeds
and their summary."""

from __future__ import annotations

import json
import random
import shutil
import warnings
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mmcl import distributed
from mmcl.config import RunConfig
from mmcl.data.dataset import Dataset, Split
from mmcl.data.io import read_json
from mmcl.errors import UserError
from mmcl.evaluation.diagnostics import write_diagnostics
from mmcl.evaluation.report import csv_table, markdown_table, summarize
from mmcl.models.base import DataInfo
from mmcl.run_folder import CONFIG, METRICS, build, versions, write_json, write_text
from mmcl.training.trainer import CHECKPOINT, Trainer


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def data_info(ds: Dataset) -> DataInfo:
    # each split may pad its token ids to its own longest text
    token_len = max(
        (sp.tokens.shape[1] for sp in ds.splits.values() if sp.tokens is not None), default=0
    )
    unimodal = sorted(ds.splits["train"].unimodal_labels or {})
    return DataInfo(ds.dims(), ds.seq_lens(), ds.task, token_len, unimodal)


def feature_means(split: Split) -> dict[str, list[float]]:
    """Per modality, the mean feature vector over the split's unpadded steps."""
    return {m: mean.astype(np.float32).tolist() for m, (mean, _) in split.step_moments().items()}


def warn_on_text_features(cfg: RunConfig, ds: Dataset) -> None:
    """Warn when the config was chosen for other text features than the data holds."""
    held = ds.text_features()
    if cfg.text_features and held and held != cfg.text_features:
        warnings.warn(
            f"the config assumes {cfg.text_features} text features (text_features = "
            f"'{cfg.text_features}'), but {ds.source or ds.name} holds {held} text features; "
            "settings chosen for one (e.g. text_pool = 'cls', BERT's [CLS] step) can cost "
            "accuracy on the other: prefer the model's defaults or a recipe made for them.",
            stacklevel=2,
        )


def train_run(
    cfg: RunConfig,
    ds: Dataset,
    out: Path,
    resume: bool = False,
    on_epoch_end: Callable[[int, float], None] | None = None,
    test: bool = True,
) -> dict:
    """Train one seed (cfg.train.seed) into `out`; returns the metrics dict. `test=False`
    (tuning) never reads the test split: no test metrics, no diagnostics."""
    out = Path(out)
    if resume and (out / METRICS).is_file():
        return read_json(out / METRICS)
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    if cfg.modalities:
        ds = ds.select_modalities(cfg.modalities)
    warn_on_text_features(cfg, ds)
    seed_everything(cfg.train.seed)
    info = data_info(ds)
    model = build(cfg, info)
    main = distributed.is_main()  # under torchrun only rank 0 writes
    if main:
        write_json(
            out / CONFIG,
            {
                **cfg.to_dict(),
                "seed": cfg.train.seed,
                "data_info": info.to_dict(),
                "data_source": ds.source,
                "data_preset": ds.preset,
                "data_extraction": ds.extraction,
                # what `mmcl predict --missing mean` feeds for a modality the input lacks
                "feature_means": feature_means(ds.splits["train"]),
                "versions": versions(),
                "processes": distributed.rank_and_size()[1],
            },
        )
    trainer = Trainer(model, ds, cfg.train, out)
    result = trainer.fit(resume=resume, on_epoch_end=on_epoch_end, test=test)
    if not main:
        return {}
    result["seed"] = cfg.train.seed
    if cfg.train.diagnostics and test:
        result["diagnostics"] = write_diagnostics(model, ds.splits["test"], out / "diagnostics")
    write_json(out / METRICS, result)
    # a finished run is resumed from its metrics, never from its checkpoint, which holds the
    # optimisers' state, MMCL's replay buffer and a fine-tuned transformer's Adam moments
    # (260 MB a run with MiniLM): only an interrupted run needs it
    shutil.rmtree(out / CHECKPOINT, ignore_errors=True)
    return result


def train_seeds(
    cfg: RunConfig, ds: Dataset, out: Path, seeds: list[int], resume: bool = False
) -> dict[str, Any]:
    """Train one run per seed into out/seed-<s>/, then write the summary over every finished
    seed in `out` (with `resume`, also those that `seeds` does not name)."""
    if resume:
        check_resumable(cfg, ds, Path(out))
    results = [
        train_run(
            replace(cfg, train=replace(cfg.train, seed=s)), ds, Path(out) / f"seed-{s}", resume
        )
        for s in seeds
    ]
    if not distributed.is_main():
        return {}
    others = [
        read_json(d / METRICS)
        for d in sorted(Path(out).glob("seed-*"))
        if (d / METRICS).is_file() and d.name not in {f"seed-{s}" for s in seeds}
    ]
    results = sorted([*results, *others], key=lambda r: r["seed"])
    return write_summary(Path(out), results, name=cfg.model)


def check_resumable(cfg: RunConfig, ds: Dataset, out: Path) -> None:
    """Refuse to resume into `out` runs of another model, data or model options: their
    seeds would be summarised together as one."""
    for d in sorted(out.glob("seed-*")):
        if not (d / CONFIG).is_file():
            continue
        saved = read_json(d / CONFIG)
        asked = {"model": cfg.model, "data_source": ds.source, "options": cfg.to_dict()[cfg.model]}
        asked = json.loads(json.dumps(asked, default=float))  # as the saved config spells it
        had = {
            "model": saved.get("model"),
            "data_source": saved.get("data_source"),
            "options": saved.get(str(saved.get("model"))),
        }
        wrong = [k for k in asked if asked[k] != had[k]]
        if wrong:
            k = wrong[0]
            raise UserError(
                f"--resume {out}: {d.name} was trained with {k} {had[k]!r}, not {asked[k]!r}; "
                "resume with the options the run folder was made with, or choose another --out."
            )


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
