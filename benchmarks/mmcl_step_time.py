"""Time one MMCL training step (forward, loss, backward, optimiser, actor-critic update) at
several feed-forward widths, on one batch of MOSI-like shapes. Prints milliseconds per step
and the ratio to the reference width, measured in one run (compare ratios, not absolutes).

    .venv/bin/python benchmarks/mmcl_step_time.py [--batch 128] [--steps 5]
"""

from __future__ import annotations

import argparse
import time

import torch

from mmcl.data.batching import BatchSource
from mmcl.data.synthetic import SynthConfig, make_synthetic
from mmcl.models.base import DataInfo
from mmcl.models.mmcl import MMCL, MMCLConfig


def step_ms(ff_mult: int, batch: int, steps: int) -> float:
    ds = make_synthetic(
        SynthConfig(
            n_train=batch,
            n_valid=2,
            n_test=2,
            seq_len=20,
            dims={"text": 300, "audio": 74, "vision": 35},
        )
    )
    info = DataInfo(ds.dims(), ds.seq_lens(), ds.task)
    torch.manual_seed(0)
    model = MMCL(MMCLConfig(d_model=128, ff_mult=ff_mult, variant="reference"), info)
    opt = torch.optim.Adam(model.main_parameters(), 3e-4)
    extra = {k: torch.optim.Adam(p, 3e-4) for k, p in model.extra_param_groups().items()}
    b = BatchSource(ds.splits["train"]).batch(torch.arange(batch))
    times = []
    for i in range(steps + 1):
        start = time.perf_counter()
        out = model.run(b)
        loss, _ = model.loss(b, out)
        opt.zero_grad()
        loss.backward()
        opt.step()
        model.extra_update(b, out, extra)
        if i:  # the first step warms up
            times.append(time.perf_counter() - start)
    return 1000 * sorted(times)[len(times) // 2]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=5)
    args = ap.parse_args()
    ref = step_ms(16, args.batch, args.steps)
    print(f"batch {args.batch}, seq 20, d_model 128, torch threads {torch.get_num_threads()}")
    print(f"ff_mult 16 (2048 wide): {ref:8.1f} ms/step  ratio 1.00  (reference)")
    for mult in (4, 1):
        ms = step_ms(mult, args.batch, args.steps)
        print(f"ff_mult {mult:<2} ({128 * mult:>4} wide): {ms:8.1f} ms/step  ratio {ms / ref:.2f}")


if __name__ == "__main__":
    main()
