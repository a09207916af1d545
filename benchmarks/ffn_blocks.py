"""The feed-forward without gradients, whole or in blocks of rows, and what it does to MMCL's
inference, at the MMCL reference code's IEMOCAP configuration (batch 256 x L = 20 = 5120
rows, d = 128).

    .venv/bin/python benchmarks/ffn_blocks.py [--repeats 14]

(1) linear2(relu(linear1(x))) on 5120 x 128 rows, feed-forward 2048 and 512 wide, fp32 and
    bf16: the whole batch at once (out-of-place ReLU, as nn.TransformerEncoderLayer does; and
    in place), and in blocks of 256, 512 and 1024 rows (ReLU in place); in fp32 also through
    oneDNN (`models/feed_forward.py`), whole and in blocks of 256 to 2048 rows. Median ms.
(2) MMCL inference (model + actors, batch 256, no grad), samples/s: the encoder layers
    through PyTorch's fused fast path (the code before) against the written-out layer with
    the blocked feed-forward (`EncoderLayer.feed_forward`), alternating in one process so
    that the machine's drift hits both alike; and the largest difference in predictions.
Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F
from throughput import DIMS, parse_row
from torch import nn

from mmcl.models import feed_forward as fast

ROWS, D = 5120, 128


def median_ms(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def variants(x: torch.Tensor, lin1: nn.Linear, lin2: nn.Linear) -> dict:
    """The ways of computing lin2(relu(lin1(x))) that part (1) compares."""
    out = {
        "whole": lambda: lin2(F.relu(lin1(x))),
        "whole, ReLU in place": lambda: lin2(lin1(x).relu_()),
    }
    for block in (256, 512, 1024):
        out[f"blocks of {block}"] = lambda block=block: torch.cat(
            [lin2(lin1(r).relu_()) for r in x.split(block)]
        )
    if fast.applies(x):  # fp32: the products by oneDNN, the ReLU fused (models/feed_forward.py)
        out["oneDNN, whole"] = lambda: fast.feed_forward(x, lin1, lin2, len(x))
        for block in (256, 512, 1024, 2048):
            out[f"oneDNN, blocks of {block}"] = lambda block=block: fast.feed_forward(
                x, lin1, lin2, block
            )
    return out


def feed_forward_alone(repeats: int) -> None:
    print("(1) feed-forward alone, 5120 x 128 rows, no grad: median ms")
    torch.manual_seed(0)
    for dtype in (torch.float32, torch.bfloat16):
        for width in (2048, 512):
            x = torch.randn(ROWS, D, dtype=dtype)
            lin1 = nn.Linear(D, width).to(dtype)
            lin2 = nn.Linear(width, D).to(dtype)
            with torch.no_grad():
                for name, fn in variants(x, lin1, lin2).items():
                    ms = median_ms(fn, repeats)
                    print(f"  {str(dtype)[6:]:<9} {width:>5} wide  {name:<22}{ms:8.2f} ms")


def mmcl_inference(rows: list[str], repeats: int) -> None:
    from mmcl.config import resolve_config
    from mmcl.data.batching import BatchSource
    from mmcl.data.synthetic import SynthConfig, make_synthetic
    from mmcl.experiments.runs import data_info
    from mmcl.models import mmcl as mmcl_module
    from mmcl.models.registry import build_model

    blocked = mmcl_module.EncoderLayer.forward

    def fast_path(self, src, src_mask=None, src_key_padding_mask=None, is_causal=False):
        if not (self.training or torch.is_grad_enabled()):
            return nn.TransformerEncoderLayer.forward(
                self, src, src_mask, src_key_padding_mask, is_causal
            )
        return blocked(self, src, src_mask, src_key_padding_mask, is_causal)

    print("\n(2) MMCL inference, batch 256, samples/s (median of alternating runs)")
    print(f"  {'row':<28}{'fast path':>10}{'blocked':>10}{'ratio':>8}  max |diff|")
    try:
        for name in rows:
            model_name, options, task, precision = parse_row(name)
            ds = make_synthetic(
                SynthConfig(task=task, n_train=256, n_valid=256, n_test=256, seq_len=20, dims=DIMS)
            )
            overrides = [f"{model_name}.{k}={json.dumps(v)}" for k, v in options.items()]
            cfg = resolve_config(model=model_name, epochs=2, overrides=overrides)
            torch.manual_seed(0)
            model = build_model(model_name, cfg.model_cfg(), data_info(ds))
            model.precision = precision
            source = BatchSource(ds.splits["test"])
            times, preds = {"fast": [], "blocked": []}, {}
            for _ in range(repeats):
                for key, forward in (("fast", fast_path), ("blocked", blocked)):
                    mmcl_module.EncoderLayer.forward = forward
                    start = time.perf_counter()
                    preds[key] = model.predict(source, batch_size=256)
                    times[key].append(time.perf_counter() - start)
            rate = {k: 256 / statistics.median(v[2:]) for k, v in times.items()}
            diff = float(abs(preds["fast"] - preds["blocked"]).max())
            print(
                f"  {name:<28}{rate['fast']:>10.0f}{rate['blocked']:>10.0f}"
                f"{rate['blocked'] / rate['fast']:>7.2f}x  {diff:.1e}",
                flush=True,
            )
    finally:
        mmcl_module.EncoderLayer.forward = blocked


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=14)
    ap.add_argument(
        "--models",
        default="mmcl:reference,mmcl:corrected,mmcl:reference:ffn512,mmcl:reference:bf16",
        help="MMCL rows as in throughput.py",
    )
    args = ap.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    feed_forward_alone(args.repeats)
    mmcl_inference([r.strip() for r in args.models.split(",") if r.strip()], args.repeats)


if __name__ == "__main__":
    main()
