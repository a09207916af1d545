"""What the shared text front-end costs: seconds per training epoch on MOSI-sized data
(1284 training samples, 50 word-piece ids or 50 x 384 text features, one 73-wide audio step),
batch 32, for a model reading
- features: the data's MiniLM features (what `mmcl extract text` caches),
- frozen: the bundled MiniLM run on the token ids, not trained (text_finetune = false),
- top2: its top 2 layers fine-tuned on the cached output of the lower 4 (text_train_layers),
- finetune: the same MiniLM fine-tuned whole (text_finetune = true).

    .venv/bin/python benchmarks/text_finetune_cost.py [--models late_fusion,self_mm]
        [--batches 8] [--epochs 20] [--seeds 5]

Each row times --batches optimisation steps after a warm-up (the frozen parts cached, as in
every epoch after the first) and scales them to an epoch; the last column is what a grid row
of --epochs epochs and --seeds seeds would take at that rate (training only: the first
epoch's caching and the evaluations come on top). Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
import torch

from mmcl.config import resolve_config
from mmcl.data.batching import BatchSource
from mmcl.data.dataset import Dataset, make_split
from mmcl.data.synthetic import SynthConfig, make_synthetic
from mmcl.experiments.runs import data_info, seed_everything
from mmcl.run_folder import build
from mmcl.training.trainer import Trainer

N_TRAIN, TOKENS, BATCH = 1284, 50, 32
MODES = {
    "features": [],
    "frozen": ['{m}.text_encoder="transformer"', "{m}.text_finetune=false"],
    "top2": ['{m}.text_encoder="transformer"', "{m}.text_train_layers=2"],
    "finetune": ['{m}.text_encoder="transformer"'],
}


def mosi_sized() -> Dataset:
    base = make_synthetic(
        SynthConfig(
            n_train=N_TRAIN, n_valid=64, n_test=64, seq_len=TOKENS, dims={"text": 384, "audio": 73}
        )
    )
    rng = np.random.default_rng(0)
    splits = {}
    for name, sp in base.splits.items():
        n = len(sp)
        lengths = rng.integers(10, TOKENS + 1, n)
        ids = rng.integers(1000, 30000, (n, TOKENS))
        ids[:, 0] = 101  # [CLS]
        ids[np.arange(TOKENS)[None, :] >= lengths[:, None]] = 0
        feats = dict(sp.features)
        feats["audio"] = np.ascontiguousarray(feats["audio"][:, :1])
        splits[name] = make_split(
            feats,
            sp.labels,
            sp.ids,
            name,
            base.task,
            lengths={"text": lengths, "audio": np.ones(n, dtype=np.int64)},
            tokens=ids,
            token_lengths=lengths,
        )
    return Dataset(splits, base.task, name="mosi-sized")


def seconds_per_epoch(ds: Dataset, model: str, mode: str, batches: int) -> float:
    overrides = [o.format(m=model) for o in MODES[mode]]
    cfg = resolve_config(
        model=model,
        overrides=[*overrides, f"train.batch_size={BATCH}", "train.diagnostics=false"],
    )
    seed_everything(0)
    net = build(cfg, data_info(ds))
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(net, ds, cfg.train, out)
        net.on_fit_start(trainer.sources["train"].labels)
        source: BatchSource = trainer.sources["train"]
        order = torch.randperm(N_TRAIN, generator=torch.Generator().manual_seed(0))
        steps = [order[i * BATCH : (i + 1) * BATCH] for i in range(batches)]
        net.train()

        def step(idx: torch.Tensor) -> None:
            batch = source.batch(idx)
            out_ = net.run(batch)
            loss, _ = net.loss(batch, out_)
            trainer.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            trainer.optimizer.step()
            net.extra_update(batch, out_, trainer.extra_optimizers)

        if net._modules.get("text_frontend") is not None:
            with torch.no_grad():  # the warm-up epoch's caching, without its training cost
                for i in range(0, N_TRAIN, 256):
                    part = source.batch(torch.arange(i, min(i + 256, N_TRAIN)))
                    net.text_frontend(part.tokens, part.token_mask)
        step(steps[0])  # warm-up
        start = time.perf_counter()
        for idx in steps:
            step(idx)
        per_step = (time.perf_counter() - start) / batches
    return per_step * -(-N_TRAIN // BATCH)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="late_fusion,self_mm")
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    ds = mosi_sized()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; batch {BATCH}")
    print(f"| model | text | s / epoch | {args.epochs} epochs x {args.seeds} seeds |")
    print("|---|---|---|---|")
    for model in args.models.split(","):
        for mode in MODES:
            sec = seconds_per_epoch(ds, model, mode, args.batches)
            grid = sec * args.epochs * args.seeds / 60
            print(f"| {model} | {mode} | {sec:.1f} | {grid:.0f} min |", flush=True)


if __name__ == "__main__":
    main()
