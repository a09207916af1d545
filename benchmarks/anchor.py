"""The MMCL reference code's IEMOCAP configuration, shared by the MMCL benchmarks:
synthetic IEMOCAP-shaped data (text 300, audio 74, vision 35 per step), d = 128, 4 heads,
and the project's own trainer around the model."""

from __future__ import annotations

import json

DIMS = {"text": 300, "audio": 74, "vision": 35}

# issue 12's anchor, measured on this machine kind before this work: the reference code's
# samples/s, its FLOPs per training sample, and the product rates (GFLOP/s) of that day
ANCHOR_TRAIN, ANCHOR_INFER = 120.0, 1600.0
ANCHOR_TRAIN_MFLOP = 767.0
ANCHOR_CEILING = {"fp32": 190.0, "bf16": 800.0}


def mmcl_trainer(
    variant: str, precision: str, ffn_dim: int, batch: int, length: int, n_batches: int, out: str
):
    """A Trainer of MMCL at the anchor configuration on `n_batches` training batches of
    `batch` samples with `length` steps, ready to step (`run_steps`)."""
    from mmcl.config import resolve_config
    from mmcl.data.synthetic import SynthConfig, make_synthetic
    from mmcl.experiments.runs import data_info, seed_everything
    from mmcl.models.registry import build_model
    from mmcl.training.trainer import Trainer

    ds = make_synthetic(
        SynthConfig(
            task="iemocap",
            n_train=batch * n_batches,
            n_valid=8,
            n_test=8,
            seq_len=length,
            dims=DIMS,
        )
    )
    options = {"variant": variant, "d_model": 128, "n_heads": 4, "ffn_dim": ffn_dim}
    overrides = [f"mmcl.{k}={json.dumps(v)}" for k, v in options.items()]
    overrides += [f"train.batch_size={batch}", f'train.precision="{precision}"']
    cfg = resolve_config(model="mmcl", epochs=1, overrides=overrides)
    seed_everything(0)
    model = build_model("mmcl", cfg.model_cfg(), data_info(ds))
    trainer = Trainer(model, ds, cfg.train, out)
    model.on_fit_start(trainer.sources["train"].labels)
    return trainer


def run_steps(trainer, batches: list) -> None:
    """The trainer's own training step (forward, losses, backward, optimisers, actor-critic
    update) on each of `batches`."""
    source = trainer.sources["train"]
    original = source.batches
    source.batches = lambda *a, **k: iter(batches)
    try:
        trainer.train_epoch()
    finally:
        source.batches = original


def warm_up_batches(batch: int, ac_batch: int = 128) -> int:
    """Steps before timing: enough for the replay buffer to hold more than one actor-critic
    sample, when the updates start (the reference variant pushes a batch one step late), so
    that every timed step does the steady-state work."""
    return -(-ac_batch // batch) + 2
