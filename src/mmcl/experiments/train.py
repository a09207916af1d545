"""`mmcl train`: resolve the config, pick the data, train K seeds."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from mmcl import distributed
from mmcl.config import resolve_config
from mmcl.data.io import folder_lock
from mmcl.data.loader import load_data, peek_modalities
from mmcl.experiments.defaults import default_data
from mmcl.experiments.grid import check_fresh
from mmcl.experiments.runs import train_seeds
from mmcl.models.base import resolve_device
from mmcl.models.registry import check_fits


def train_from_options(
    recipe: str | None,
    model: str | None,
    data: str | None,
    epochs: int | None,
    overrides: list[str],
    out: Path,
    seeds: int,
    resume: bool,
    say: Callable[[str], None],
) -> dict[str, Any]:
    """Defaults < recipe < options < overrides; without --data (and no data in the recipe)
    the default data (`mmcl.experiments.defaults`). Returns the summary over seeds."""
    cfg = resolve_config(recipe, model, data, epochs, overrides)
    # under torchrun: one process of a data-parallel run (nccl when training on CUDA)
    distributed.join(resolve_device(cfg.train.device))
    main = distributed.is_main()
    if main:
        check_fresh(out, resume)
    if data is None and cfg.data == "synthetic":  # neither --data nor the recipe chose
        cfg = replace(cfg, data=default_data(say))
    modalities = cfg.modalities or peek_modalities(cfg.data)
    if modalities:  # refuse a model that cannot take the data before loading it
        check_fits(cfg.model, modalities)
    ds = load_data(cfg.data, cfg.preset or None)
    # the task and the unimodal labels are known now: refuse before any folder is made
    uni = sorted(ds.splits["train"].unimodal_labels or {})
    check_fits(cfg.model, cfg.modalities or ds.modalities, ds.task.kind, uni)
    ranks = distributed.rank_and_size()[1]
    if main:
        say(
            f"training {cfg.model} on {ds.source} ({ds.task.metric_set}), seeds 0..{seeds - 1}"
            + (f", {ranks} processes" if ranks > 1 else "")
            + f" -> {out}"
        )
    if not main:  # rank 0 holds the folder and writes every file
        return train_seeds(cfg, ds, out, list(range(seeds)), resume=resume)
    with folder_lock(out):
        return train_seeds(cfg, ds, out, list(range(seeds)), resume=resume)
