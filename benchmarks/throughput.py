"""Training and inference throughput of every model, at the MMCL reference code's IEMOCAP
configuration: synthetic IEMOCAP-shaped data (L = 20; text 300, audio 74, vision 35),
d = 128, 4 heads, batch 128 (Self-MM and its covariance variant, which need a regression
task, get the same shapes with regression labels).

    .venv/bin/python benchmarks/throughput.py [--models mmcl:reference,late_fusion]
        [--steps 10] [--precision fp32,bf16] [--device cpu] [--json] [--flops] [--repeat 1]

A row is MODEL[:bf16][:ffnN]: `mmcl:reference` is the reference variant at its defaults
(fp32, feed-forward 2048 wide), `mmcl:corrected:bf16:ffn512` the corrected variant with
train.precision = "bf16" and mmcl.ffn_dim = 512. --precision keeps the rows of the given
precisions; --models names rows (any such name, listed or not).

Per model, in a fresh process (so that peak memory is the model's own):
- train_samples_per_s: full optimisation steps of the one trainer (forward, losses,
  backward, optimiser, the actor-critic update and its replay buffer, data batching), a
  warm-up of 3 batches (the replay buffer past one actor-critic sample), then a timed epoch of
  --steps batches;
- infer_samples_per_s: batch 256, no grad, the model in eval mode (the median of
  INFER_PASSES passes over 256 samples);
- latency_ms_p50 / p95: one sample at a time;
- peak_rss_mb: the process's peak resident memory.
Prints a table; with --json the last line is {"models": {name: {...}}}. --repeat N measures
every row N times, the rows in turn (round after round, so that the machine's drift reaches
them alike), and prints each figure's median over the rounds: figures here vary by a fifth
and more between runs minutes apart (docs/performance.md@50f71fa sec. 5). --flops prints
instead each fp32 row's counted FLOPs per training and inference sample and its parameters
(nothing timed). Run it on a quiet machine and compare numbers from one run: absolute
figures vary between machines.

The machine's speed drifts (docs/performance.md@50f71fa: the same code 1.45x faster one morning than
the night before), and issue 12's anchor (the reference code: 120 training and 1600
inference samples/s, with products at 190 GFLOP/s in fp32) was measured on another day. So
each MMCL row also measures, in its own process right after its timings, the fp32 and bf16
matrix-product rate of this machine now (the best of a 2048-cube product and the
feed-forward's first product at the anchor's shapes, by MKL and by oneDNN) and counts its
FLOPs per training and inference sample (torch.utils.flop_counter). Every row is read
against the best of the run's readings: a single reading can dip. A second table gives
the share of the ceiling each row reaches, its ratios to the anchor with the anchor
scaled to the fp32 product rate measured now (the anchor's figures x (fp32 rate now / 190)),
and the most the row's FLOPs would allow at the ceiling against the same scaled anchor: the
bound no code change reaches past without fewer FLOPs. That scaling assumes the reference
code's speed follows the machine's product rate; it is a reading, not a side-by-side
measurement. Not part of the JSON.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import resource
import subprocess
import sys
import time

from anchor import (
    ANCHOR_CEILING,
    ANCHOR_INFER,
    ANCHOR_TRAIN,
    ANCHOR_TRAIN_MFLOP,
    run_steps,
    warm_up_batches,
)

# registry model -> (options at the anchor configuration, task)
BASES: dict[str, tuple[str, dict, str]] = {
    "mmcl:reference": ("mmcl", {"variant": "reference", "d_model": 128, "n_heads": 4}, "iemocap"),
    "mmcl:corrected": ("mmcl", {"variant": "corrected", "d_model": 128, "n_heads": 4}, "iemocap"),
    "self_mm": ("self_mm", {}, "regression"),
    "shared_private_cov": ("shared_private_cov", {}, "regression"),
    "late_fusion": ("late_fusion", {}, "iemocap"),
    "ef_lstm": ("ef_lstm", {}, "iemocap"),
    "tfn": ("tfn", {}, "iemocap"),
    "lmf": ("lmf", {}, "iemocap"),
    "mfn": ("mfn", {}, "iemocap"),
    "graph_mfn": ("graph_mfn", {}, "iemocap"),
    "mfm": ("mfm", {}, "iemocap"),
    "mctn": ("mctn", {}, "iemocap"),
    "mlf_dnn": ("mlf_dnn", {}, "regression"),  # multi-task: regression with unimodal labels
    "mtfn": ("mtfn", {}, "regression"),
    "mlmf": ("mlmf", {}, "regression"),
    "mult": ("mult", {}, "iemocap"),
    "tfr_net": ("tfr_net", {}, "iemocap"),
    "misa": ("misa", {}, "iemocap"),
    # the text-transformer models on text features (text_encoder = "features"); BERT-MAG and
    # CENET read only token ids: benchmarks/text_finetune_cost.py measures that path
    "mmim": ("mmim", {}, "regression"),
    "tetfn": ("tetfn", {}, "regression"),
    "almt": ("almt", {}, "iemocap"),
    "unimodal": ("unimodal", {}, "iemocap"),
}
# the default rows: MMCL's variants at fp32, bf16 and bf16 + a 512-wide feed-forward, and
# every other model at both precisions
DEFAULT_ROWS = [
    f"{base}{suffix}"
    for base in BASES
    for suffix in (("", ":bf16", ":bf16:ffn512") if base.startswith("mmcl") else ("", ":bf16"))
]


def parse_row(name: str) -> tuple[str, dict, str, str]:
    """'mmcl:corrected:bf16:ffn512' -> (registry model, options, task, precision)."""
    parts = name.split(":")
    base = ":".join(parts[:2]) if parts[0] == "mmcl" else parts[0]
    if base not in BASES:
        raise SystemExit(f"--models: unknown model in '{name}'; known: {list(BASES)}")
    model, options, task = BASES[base]
    options, precision = dict(options), "fp32"
    for item in parts[len(base.split(":")) :]:
        if item in ("bf16", "fp32"):
            precision = item
        elif item.startswith("ffn") and item[3:].isdigit() and model == "mmcl":
            options["ffn_dim"] = int(item[3:])
        else:
            raise SystemExit(f"--models: '{item}' in '{name}' is not bf16, fp32 or ffnN (MMCL)")
    return model, options, task, precision


BATCH = 128
INFER_PASSES = 3
DIMS = {"text": 300, "audio": 74, "vision": 35}

# products whose best rate is "the ceiling": a large square one and the feed-forward's first
# product at the anchor's shapes (128 samples x 20 steps rows, 128 -> 2048)
CEILING_SHAPES = ((2048, 2048, 2048), (BATCH * 20, 128, 2048))


def calls_per_s(fn, seconds: float = 0.15) -> float:
    """The best rate (calls per second) of fn() here: after a warm-up call, the best of three
    timings, each about `seconds / 3` long."""
    fn()
    best = 0.0
    for _ in range(3):
        reps, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds / 3 or reps == 0:
            fn()
            reps += 1
        best = max(best, reps / elapsed)
    return best


def product_rate(dtype, shapes=CEILING_SHAPES, seconds: float = 0.15) -> float:
    """The best rate (GFLOP/s) of the matrix products `shapes` (m, k, n) in `dtype` here, by
    PyTorch's matmul and, in fp32, by oneDNN too (PyTorch's fp32 matmul uses MKL, slower on
    this CPU; bf16 already goes to oneDNN)."""
    import torch

    from mmcl.models import feed_forward

    best = 0.0
    for m, k, n in shapes:
        a, b = torch.randn(m, k).to(dtype), torch.randn(k, n).to(dtype)
        products = [torch.matmul]
        if dtype == torch.float32 and feed_forward.LINEAR is not None:
            products.append(lambda x, y: feed_forward.linear(x, y.t(), None))
        for product in products:
            calls = calls_per_s(functools.partial(product, a, b), seconds)
            best = max(best, 2 * m * k * n * calls / 1e9)
    return best


@functools.cache  # registering twice is an error
def count_onednn_products() -> None:
    """Teach torch.utils.flop_counter oneDNN's linear (the fp32 feed-forward's products),
    which it does not know: 2 x rows x inputs x outputs."""
    import torch
    from torch.utils.flop_counter import register_flop_formula

    from mmcl.models import feed_forward

    if feed_forward.LINEAR is None:
        return

    @register_flop_formula(torch.ops.mkldnn._linear_pointwise)
    def linear_flop(x_shape, w_shape, *args, out_shape=None, **kwargs) -> int:
        return 2 * math.prod(x_shape[:-1]) * x_shape[-1] * w_shape[0]


def train_mflop(trainer, batch) -> float:
    """FLOPs (millions) per sample of one training step on `batch`, counted by
    torch.utils.flop_counter (matrix products and attention)."""
    from torch.utils.flop_counter import FlopCounterMode

    count_onednn_products()
    with FlopCounterMode(display=False) as counter:
        run_steps(trainer, [batch])
    return counter.get_total_flops() / len(batch.labels) / 1e6


def counted_mflop(model, trainer, source, batch) -> tuple[float, float]:
    """FLOPs (millions) per sample of one training step on `batch` and of inference at batch
    256 on `source`, counted by torch.utils.flop_counter (matrix products and attention)."""
    from torch.utils.flop_counter import FlopCounterMode

    train = train_mflop(trainer, batch)
    # PyTorch's fused inference path (taken in bf16) does not run under the counter; the
    # products are the same in fp32
    precision, model.precision = model.precision, "fp32"
    try:
        with FlopCounterMode(display=False) as counter:
            n = len(model.predict(source, batch_size=256))
    finally:
        model.precision = precision
    return train, counter.get_total_flops() / n / 1e6


def build_row(name: str, steps: int, device: str):
    """A row's model and trainer on synthetic anchor-shaped data (`steps` training batches,
    256 test samples), warmed up past one actor-critic sample: (model, trainer, test source)."""
    import torch

    from mmcl.config import resolve_config
    from mmcl.data.batching import BatchSource
    from mmcl.data.synthetic import SynthConfig, make_synthetic
    from mmcl.experiments.runs import data_info
    from mmcl.models.registry import build_model
    from mmcl.training.trainer import Trainer

    model_name, options, task, precision = parse_row(name)
    ds = make_synthetic(
        SynthConfig(
            task=task,
            n_train=BATCH * steps,
            n_valid=256,
            n_test=256,
            seq_len=20,
            dims=DIMS,
            unimodal_labels=task == "regression",
        )
    )
    if model_name == "unimodal":
        ds = ds.select_modalities(["text"])
    overrides = [f"{model_name}.{k}={json.dumps(v)}" for k, v in options.items()]
    overrides += [f"train.batch_size={BATCH}", "train.diagnostics=false", "train.patience=0"]
    overrides += [f'train.precision="{precision}"', f'train.device="{device}"']
    cfg = resolve_config(model=model_name, epochs=2, overrides=overrides)
    torch.manual_seed(0)
    model = build_model(model_name, cfg.model_cfg(), data_info(ds))
    trainer = Trainer(model, ds, cfg.train, "/tmp/mmcl-throughput")  # moves it to the device
    model.on_fit_start(trainer.sources["train"].labels)
    # warm-up: enough steps for the replay buffer to pass one actor-critic sample, so that the
    # timed steps do MMCL's steady-state work
    source = trainer.sources["train"]
    n_warm = min(warm_up_batches(BATCH), steps)
    warm = [source.batch(torch.arange(i * BATCH, (i + 1) * BATCH)) for i in range(n_warm)]
    run_steps(trainer, warm)
    return model, trainer, BatchSource(ds.splits["test"])


def measure(name: str, steps: int, device: str) -> dict[str, float]:
    """One model's numbers, in this process."""
    import numpy as np
    import torch

    model, trainer, source = build_row(name, steps, device)
    model_name = parse_row(name)[0]
    start = time.perf_counter()
    trainer.train_epoch()
    train_rate = BATCH * steps / (time.perf_counter() - start)

    n_test = len(source.labels)
    model.predict(source)  # warm-up
    # the median of several passes: one pass of MMCL is a quarter of a second, and single
    # timings that short varied by a fifth here
    rates = []
    for _ in range(INFER_PASSES):
        start = time.perf_counter()
        model.predict(source, batch_size=256)
        rates.append(n_test / (time.perf_counter() - start))
    infer_rate = float(np.median(rates))
    latencies = []
    model.eval()
    with torch.no_grad():
        for i in range(60):
            batch = source.batch(torch.tensor([i % n_test]))
            start = time.perf_counter()
            model.run(batch)
            latencies.append(1000 * (time.perf_counter() - start))
    latencies = np.array(latencies[10:])
    result = {
        "train_samples_per_s": round(train_rate, 1),
        "infer_samples_per_s": round(infer_rate, 1),
        "latency_ms_p50": round(float(np.percentile(latencies, 50)), 2),
        "latency_ms_p95": round(float(np.percentile(latencies, 95)), 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    if model_name == "mmcl" and device == "cpu":
        # after the peak memory is read: the counting and the products allocate on their own
        model.train()
        batch = trainer.sources["train"].batch(torch.arange(BATCH))
        result["_mflop"] = counted_mflop(model, trainer, source, batch)
        result["_ceiling"] = {
            "fp32": product_rate(torch.float32),
            "bf16": product_rate(torch.bfloat16),
        }
    return result


def median_of(rounds: list[dict]) -> dict:
    """One row's figures over its rounds: the median of each figure; the product-rate
    readings' best (a reading can only dip below the machine's rate); the FLOP counts as
    they are (the same every round)."""
    import statistics

    out = {
        key: round(statistics.median(r[key] for r in rounds), 2)
        for key in rounds[0]
        if not key.startswith("_")
    }
    if "_ceiling" in rounds[0]:
        out["_ceiling"] = {p: max(r["_ceiling"][p] for r in rounds) for p in ("fp32", "bf16")}
        out["_mflop"] = rounds[0]["_mflop"]
    return out


def ceiling_table(results: dict[str, dict]) -> list[str]:
    """The MMCL rows against the machine's product rate measured beside them (see the module
    docstring): lines to print."""
    measured = [r["_ceiling"] for r in results.values() if "_ceiling" in r]
    # the machine's ceiling is the best reading of the run: a reading can dip for a moment
    # (to half, beside timings that did not), which would flatter its row if used alone
    ceiling = {p: max(c[p] for c in measured) for p in ("fp32", "bf16")}
    lines = [
        "",
        "MMCL against the product rate measured in the same processes. MFLOP: counted per",
        "sample; ceiling: each row's own reading (GFLOP/s; with --repeat, its best); the figures",
        "after it use the best reading of the run, fp32 "
        f"{ceiling['fp32']:.0f} and bf16 {ceiling['bf16']:.0f}.",
        "share: samples/s x MFLOP over the ceiling of the row's precision;",
        "/anchor: samples/s over the anchor's, scaled by the fp32 ceiling / 190 GFLOP/s;",
        "bounds, over the scaled anchor's: train, the most samples/s the row's training FLOPs",
        "allow at its precision's ceiling; infer, the most its inference FLOPs allow at the bf16",
        "ceiling.",
        f"{'model':<28}{'MFLOP':>7}{'':>6}{'ceiling':>8}{'':>6}{'share':>6}{'':>6}"
        f"{'/anchor':>8}{'':>7}{'bound':>7}{'':>7}",
        f"{'':<28}{'train':>7}{'infer':>6}{'fp32':>8}{'bf16':>6}{'train':>6}{'infer':>6}"
        f"{'train':>8}{'infer':>7}{'train':>7}{'infer':>7}",
    ]
    for name, r in results.items():
        if "_ceiling" not in r:
            continue
        precision = parse_row(name)[3]
        own, (train_mflop, infer_mflop) = r["_ceiling"], r["_mflop"]
        train, infer = r["train_samples_per_s"], r["infer_samples_per_s"]
        scale = ceiling["fp32"] / ANCHOR_CEILING["fp32"]
        train_bound = ceiling[precision] * 1e3 / train_mflop / (ANCHOR_TRAIN * scale)
        infer_bound = ceiling["bf16"] * 1e3 / infer_mflop / (ANCHOR_INFER * scale)
        lines.append(
            f"{name:<28}{train_mflop:>7.0f}{infer_mflop:>6.0f}{own['fp32']:>8.0f}"
            f"{own['bf16']:>6.0f}{train * train_mflop / 1e3 / ceiling[precision]:>6.0%}"
            f"{infer * infer_mflop / 1e3 / ceiling[precision]:>6.0%}"
            f"{train / (ANCHOR_TRAIN * scale):>7.2f}x{infer / (ANCHOR_INFER * scale):>6.2f}x"
            f"{train_bound:>6.1f}x{infer_bound:>6.1f}x"
        )
    anchor_share = ANCHOR_TRAIN * ANCHOR_TRAIN_MFLOP / 1e3 / ANCHOR_CEILING["fp32"]
    lines.append(
        f"(the anchor: {ANCHOR_TRAIN_MFLOP:.0f} MFLOP per training sample at "
        f"{ANCHOR_TRAIN:.0f} samples/s reached {anchor_share:.0%} of its day's fp32 ceiling)"
    )
    return lines


def flops_table(names: list[str]) -> None:
    """--flops: each model's counted FLOPs per training and inference sample and its
    parameters, in this process, nothing timed (fp32: the FLOPs do not depend on precision)."""
    import torch

    print(
        f"{'model':<28}{'train MFLOP':>12}{'infer MFLOP':>12}{'parameters':>12}"
        "  largest parameter tensor"
    )
    for name in names:
        if parse_row(name)[3] != "fp32":
            continue
        model, trainer, source = build_row(name, warm_up_batches(BATCH) + 1, "cpu")
        batch = trainer.sources["train"].batch(torch.arange(BATCH))
        train, infer = counted_mflop(model, trainer, source, batch)
        params = sum(p.numel() for p in model.parameters())
        size, largest = max((p.numel(), n) for n, p in model.named_parameters())
        print(
            f"{name:<28}{train:>12.1f}{infer:>12.1f}{params:>12,}  {largest} ({size / params:.0%})",
            flush=True,
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default=",".join(DEFAULT_ROWS), help="comma-separated rows")
    ap.add_argument("--steps", type=int, default=10, help="batches per timed epoch")
    ap.add_argument("--precision", default="fp32,bf16", help="keep rows of these precisions")
    ap.add_argument("--device", default="cpu", help="train.device: cpu, cuda, cuda:N, auto")
    ap.add_argument("--json", action="store_true", help="print the JSON object last")
    ap.add_argument(
        "--repeat", type=int, default=1, help="rounds over all rows; medians are printed"
    )
    ap.add_argument(
        "--flops", action="store_true", help="only count each row's FLOPs and parameters"
    )
    ap.add_argument("--one", help=argparse.SUPPRESS)  # internal: measure one model, print JSON
    args = ap.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.steps, args.device)))
        return
    precisions = {p.strip() for p in args.precision.split(",") if p.strip()}
    if not precisions <= {"fp32", "bf16"}:
        raise SystemExit(f"--precision {args.precision}: choose from fp32, bf16")
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    names = [n for n in names if parse_row(n)[3] in precisions]
    if args.flops:
        flops_table(names)
        return
    if args.repeat < 1:
        raise SystemExit(f"--repeat {args.repeat}: give 1 or more rounds")
    rounds: dict[str, list[dict]] = {name: [] for name in names}
    results = {}
    header = f"{'model':<28}{'train/s':>10}{'infer/s':>10}{'p50 ms':>9}{'p95 ms':>9}{'RSS MB':>9}"
    print(header if args.repeat == 1 else f"{header}   (medians of {args.repeat} rounds)")
    for k in range(args.repeat):
        for name in names:
            cmd = [sys.executable, __file__, "--one", name, "--steps", str(args.steps)]
            cmd += ["--device", args.device]
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode:
                raise SystemExit(f"{name} failed:\n{done.stderr[-2000:]}")
            rounds[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
            if args.repeat > 1:
                print(f"round {k + 1}/{args.repeat}: {name}", file=sys.stderr, flush=True)
            if k == args.repeat - 1:
                r = results[name] = median_of(rounds[name])
                print(
                    f"{name:<28}{r['train_samples_per_s']:>10}{r['infer_samples_per_s']:>10}"
                    f"{r['latency_ms_p50']:>9}{r['latency_ms_p95']:>9}{r['peak_rss_mb']:>9}",
                    flush=True,
                )
    if any("_ceiling" in r for r in results.values()):
        print("\n".join(ceiling_table(results)), flush=True)
    if args.json:
        public = {
            n: {k: v for k, v in r.items() if not k.startswith("_")} for n, r in results.items()
        }
        print(json.dumps({"models": public}))


if __name__ == "__main__":
    main()
