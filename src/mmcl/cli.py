"""The `mmcl` command line: parse, call, print."""

from __future__ import annotations

import functools
import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from mmcl.data.dataset import DataError

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="Multimodal sentiment analysis toolkit."
)
data_app = typer.Typer(no_args_is_help=True, help="Read, convert, inspect and synthesise datasets.")
app.add_typer(data_app, name="data")
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    err_console.print(f"[yellow]warning:[/yellow] {message}", highlight=False)


def user_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a user's mistake (bad file, bad option) into a clear message and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        warnings.showwarning = _show_warning
        try:
            return fn(*args, **kwargs)
        except (DataError, ValueError, FileNotFoundError) as e:
            err_console.print(f"[red]error:[/red] {e}", highlight=False)
            raise typer.Exit(2) from None

    return wrapper


DataOpt = Annotated[str, typer.Option("--data", help="Dataset path, or 'synthetic'.")]
PresetOpt = Annotated[
    str | None, typer.Option("--preset", help="mosi, mosei, sims, simsv2, iemocap or cmdc.")
]


@data_app.command("inspect")
@user_errors
def data_inspect(
    path: Annotated[str, typer.Argument(help="Dataset path, or 'synthetic'.")],
    preset: PresetOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Splits, modalities with shapes and lengths, label statistics, cleaned values, preset."""
    from mmcl.data.loader import load_data
    from mmcl.data.summary import describe, format_description

    info = describe(load_data(path, preset))
    console.print(
        json.dumps(info, indent=2) if as_json else format_description(info), highlight=False
    )


@data_app.command("convert")
@user_errors
def data_convert(
    src: Annotated[
        str, typer.Argument(help="Any readable dataset (MMSA/MulT pickle, .csd folder, native).")
    ],
    out: Annotated[Path, typer.Argument(help="Output folder (native format).")],
    preset: PresetOpt = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace OUT if it exists.")
    ] = False,
) -> None:
    """Convert a dataset to the native format (safe, memory-mapped; later runs use it)."""
    from mmcl.data.loader import load_data
    from mmcl.data.native import write_native

    ds = load_data(src, preset)
    write_native(ds, out, overwrite=overwrite)
    console.print(f"wrote {out} ({', '.join(f'{s} {len(sp)}' for s, sp in ds.splits.items())})")


@data_app.command("synth")
@user_errors
def data_synth(
    out: Annotated[
        Path, typer.Option("--out", help="Output path (folder for native, file for pickles).")
    ],
    fmt: Annotated[str, typer.Option("--format", help="native, mmsa or mult.")] = "native",
    task: Annotated[
        str, typer.Option("--task", help="regression, iemocap or classification.")
    ] = "regression",
    n_train: Annotated[int, typer.Option("--n-train")] = 600,
    n_valid: Annotated[int, typer.Option("--n-valid")] = 200,
    n_test: Annotated[int, typer.Option("--n-test")] = 200,
    seq_len: Annotated[int, typer.Option("--seq-len")] = 12,
    dims: Annotated[
        str, typer.Option("--dims", help="NAME=WIDTH,... (t, a, v mean text, audio, vision).")
    ] = "t=32,a=16,v=16",
    num_classes: Annotated[int, typer.Option("--num-classes")] = 3,
    common: Annotated[
        str | None,
        typer.Option(
            "--common", help="Modalities carrying the common signal, e.g. a,v (default all)."
        ),
    ] = None,
    noise: Annotated[float, typer.Option("--noise")] = 1.0,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    overwrite: Annotated[bool, typer.Option("--overwrite")] = False,
) -> None:
    """Write synthetic data with a planted common + specific signal."""
    from mmcl.data.native import write_native
    from mmcl.data.pickles import write_mmsa, write_mult
    from mmcl.data.synthetic import MODALITY_ALIASES, SynthConfig, make_synthetic, parse_dims

    for name, v in (
        ("--n-train", n_train),
        ("--n-valid", n_valid),
        ("--n-test", n_test),
        ("--seq-len", seq_len),
    ):
        if v < 1:
            raise ValueError(f"{name} must be at least 1, got {v}.")
    carriers = None
    if common:
        carriers = [MODALITY_ALIASES.get(c.strip(), c.strip()) for c in common.split(",")]
    cfg = SynthConfig(
        task=task,
        n_train=n_train,
        n_valid=n_valid,
        n_test=n_test,
        seq_len=seq_len,
        dims=parse_dims(dims),
        num_classes=num_classes,
        common_modalities=carriers,
        noise=noise,
        seed=seed,
    )
    writers = {
        "native": lambda d: write_native(d, out, overwrite),
        "mmsa": lambda d: write_mmsa(d, out),
        "mult": lambda d: write_mult(d, out),
    }
    if fmt not in writers:
        raise ValueError(f"--format must be one of {sorted(writers)}, not '{fmt}'.")
    if fmt != "native" and out.exists() and not overwrite:
        raise ValueError(f"{out} exists; pass --overwrite or choose another --out.")
    writers[fmt](make_synthetic(cfg))
    console.print(f"wrote {fmt} synthetic {task} data to {out}")


@app.command("demo")
@user_errors
def demo(data: DataOpt = "synthetic") -> None:
    """Load the default data, print its summary and a constant baseline's test metrics."""
    from mmcl.data.batching import BatchSource
    from mmcl.data.loader import load_data
    from mmcl.data.summary import describe, format_description
    from mmcl.evaluation.baselines import constant_predictions
    from mmcl.evaluation.metrics import evaluate

    ds = load_data(data)
    console.print(format_description(describe(ds)), highlight=False)
    n_batches = sum(1 for _ in BatchSource(ds.splits["train"]).batches(64, shuffle=True))
    console.print(f"train batches of 64: {n_batches}")
    test = ds.splits["test"]
    preds = constant_predictions(ds.splits["train"].labels, ds.task, len(test))
    metrics = evaluate(ds.task.metrics, preds, test.labels)
    console.print(
        "constant baseline, test: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())
    )


def main() -> None:
    app()
