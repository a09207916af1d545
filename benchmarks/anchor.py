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


def alternating(
    variant: str,
    precision: str,
    ffn_dim: int,
    paths: dict,
    steps: int,
    repeats: int,
) -> str:
    """MMCL at the anchor configuration with two code paths, before and after a change
    (`paths`: name -> a function that puts that path in place), alternating in one process so
    that the machine's drift hits both alike: full training steps of the one trainer (the
    actor-critic update included) and inference (batch 256, no grad), samples/s as medians of
    `repeats` rounds, and the largest difference between the two paths' predictions on one
    batch. Returns the row's line (name, train before / after / ratio, infer likewise, gap);
    leaves the last path in place."""
    import statistics
    import time

    import torch

    before, after = paths
    trainer = mmcl_trainer(variant, precision, ffn_dim, 128, 20, 16, "/tmp/mmcl-alternating")
    source = trainer.sources["train"]
    batches = [source.batch(torch.arange(i * 128, (i + 1) * 128)) for i in range(16)]
    run_steps(trainer, batches[: warm_up_batches(128)])  # the replay buffer past one sample
    model = trainer.model
    infer_batches = [source.batch(torch.arange(i * 256, (i + 1) * 256)) for i in range(4)]
    model.eval()
    preds = {}
    for path, put_in_place in paths.items():  # the same predictions either way, up to rounding
        put_in_place()
        with torch.no_grad():
            preds[path] = model.run(infer_batches[0]).preds.float()
    gap = float((preds[before] - preds[after]).abs().max())
    model.train()
    train_s, infer_s = {p: [] for p in paths}, {p: [] for p in paths}
    for r in range(repeats + 1):  # the first round warms both paths up
        for path, put_in_place in paths.items():
            put_in_place()
            chosen = [batches[(r * steps + i) % len(batches)] for i in range(steps)]
            start = time.perf_counter()
            run_steps(trainer, chosen)
            elapsed = time.perf_counter() - start
            model.eval()
            with torch.no_grad():
                start_infer = time.perf_counter()
                for b in infer_batches:
                    model.run(b)
                elapsed_infer = time.perf_counter() - start_infer
            model.train()
            if r:
                train_s[path].append(128 * steps / elapsed)
                infer_s[path].append(256 * len(infer_batches) / elapsed_infer)
    t = {p: statistics.median(v) for p, v in train_s.items()}
    i = {p: statistics.median(v) for p, v in infer_s.items()}
    name = f"mmcl:{variant}" + ("" if precision == "fp32" else f":{precision}")
    name += "" if ffn_dim == 2048 else f":ffn{ffn_dim}"
    return (
        f"  {name:<26}{t[before]:>8.1f}{t[after]:>8.1f}{t[after] / t[before]:>7.2f}x"
        f"{i[before]:>9.0f}{i[after]:>8.0f}{i[after] / i[before]:>7.2f}x{gap:>12.1e}"
    )
