"""The `mmcl` command line: parse, call, print."""

from __future__ import annotations

import dataclasses
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


DATA_HELP = "Dataset path, or 'synthetic'; default: the real MOSI (imported once, see README)."
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


@data_app.command("import")
@user_errors
def data_import(
    name: Annotated[str, typer.Argument(help="mosi, mmmo, youtube, iemocap or cmdc.")],
    src: Annotated[Path, typer.Argument(help="The set's folder, e.g. ../shared/data/mosi.")],
    out: Annotated[Path, typer.Argument(help="Output folder (native format).")],
    model: Annotated[
        str, typer.Option("--model", help="Local text model folder (default: bundled MiniLM).")
    ] = "",
    max_len: Annotated[
        int | None, typer.Option("--max-len", min=2, help="Text tokens kept per sample.")
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite")] = False,
) -> None:
    """Import a real set of shared/data into the native format, with its official split."""
    from mmcl.features.importers import import_dataset

    kwargs: dict[str, Any] = {"overwrite": overwrite}
    if name in ("mosi", "iemocap", "cmdc"):
        kwargs["model"] = model
        if max_len:
            kwargs["max_len"] = max_len
    ds = import_dataset(name, src, out, **kwargs)
    console.print(
        f"wrote {out}: {', '.join(f'{s} {len(sp)}' for s, sp in ds.splits.items())}, "
        f"modalities {ds.dims()}"
    )


extract_app = typer.Typer(no_args_is_help=True, help="Offline feature extraction from raw inputs.")
app.add_typer(extract_app, name="extract")


@extract_app.command("text")
@user_errors
def extract_text_cmd(
    inp: Annotated[Path, typer.Option("--in", help="CSV file with an id and a text column.")],
    out: Annotated[Path, typer.Option("--out", help="Output folder (text feature table).")],
    text_col: Annotated[str, typer.Option("--text-col")] = "text",
    id_col: Annotated[str, typer.Option("--id-col")] = "id",
    model: Annotated[
        str, typer.Option("--model", help="Local model folder (default: bundled MiniLM).")
    ] = "",
    max_len: Annotated[int, typer.Option("--max-len", min=2)] = 50,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 64,
) -> None:
    """Token-level sequences, a pooled sentence vector and word-piece ids per text (offline)."""
    import csv

    from mmcl.features.text import extract_text

    if not inp.is_file():
        raise ValueError(f"--in {inp}: no such file.")
    with open(inp, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in (text_col, id_col) if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(
                f"{inp}: no column(s) {missing}; columns are {reader.fieldnames}. "
                "Use --text-col/--id-col."
            )
        rows = list(reader)
    feats, cached = extract_text(
        [r[text_col] for r in rows], [r[id_col] for r in rows], out, model, max_len, batch_size
    )
    what = "unchanged (cached by content hash)" if cached else "wrote"
    console.print(f"{what} {out}: {len(feats.ids)} texts, features {feats.features.shape}")


@extract_app.command("audio")
@user_errors
def extract_audio_cmd(
    wav_dir: Annotated[
        Path, typer.Option("--wav-dir", help="Folder of .wav files (id = file name).")
    ],
    out: Annotated[Path, typer.Option("--out", help="Output folder (audio feature table).")],
    backend: Annotated[
        str, typer.Option("--backend", help="librosa, or opensmile (eGeMAPS; research licence).")
    ] = "librosa",
    hop_ms: Annotated[float, typer.Option("--hop-ms", min=1.0, help="librosa frame hop.")] = 20.0,
    n_mfcc: Annotated[int, typer.Option("--n-mfcc", min=1)] = 13,
    max_frames: Annotated[int, typer.Option("--max-frames", min=1)] = 500,
) -> None:
    """Frame-level acoustic features per WAV (librosa MFCC/pitch/energy, or eGeMAPS), offline."""
    from mmcl.features.audio import AudioParams, extract_audio

    if backend not in ("librosa", "opensmile"):
        raise ValueError(f"--backend must be librosa or opensmile, not '{backend}'.")
    params = AudioParams(backend=backend, hop_ms=hop_ms, n_mfcc=n_mfcc, max_frames=max_frames)
    path, cached = extract_audio(wav_dir, out, params)
    what = "unchanged (cached by content hash)" if cached else "wrote"
    console.print(f"{what} {path}")


@data_app.command("assemble")
@user_errors
def data_assemble(
    labels: Annotated[
        Path, typer.Option("--labels", help="CSV with ids, labels and (optionally) splits.")
    ],
    features: Annotated[
        list[str], typer.Option("--features", help="MODALITY=FOLDER of a feature table; repeat.")
    ],
    out: Annotated[Path, typer.Option("--out", help="Output folder (native format).")],
    id_col: Annotated[str, typer.Option("--id-col")] = "id",
    label_col: Annotated[str, typer.Option("--label-col")] = "label",
    split_col: Annotated[str, typer.Option("--split-col")] = "split",
    preset: PresetOpt = None,
    task: Annotated[
        str, typer.Option("--task", help="regression or classification (without --preset).")
    ] = "regression",
    seed: Annotated[
        int, typer.Option("--seed", help="Seed of the split when the CSV has none.")
    ] = 0,
    overwrite: Annotated[bool, typer.Option("--overwrite")] = False,
) -> None:
    """Join feature tables from `mmcl extract` with labels into a native dataset."""
    from mmcl.features.assemble import assemble

    tables = {}
    for item in features:
        name, sep, folder = item.partition("=")
        if not sep or not name or not folder:
            raise ValueError(f"--features '{item}': expected MODALITY=FOLDER, e.g. text=feat/text.")
        tables[name] = folder
    ds = assemble(labels, tables, out, id_col, label_col, split_col, preset, task, seed, overwrite)
    console.print(f"wrote {out}: {', '.join(f'{s} {len(sp)}' for s, sp in ds.splits.items())}")


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


RunDataOpt = Annotated[str | None, typer.Option("--data", help="Dataset (default: the run's).")]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a config value: train.lr=1e-3, mmcl.variant=reference."),
]
RecipeOpt = Annotated[
    str | None, typer.Option("--recipe", help="TOML recipe file, or a shipped recipe's name.")
]
SeedsOpt = Annotated[int, typer.Option("--seeds", min=1, help="Seeds 0..K-1, one run each.")]
EpochsOpt = Annotated[int | None, typer.Option("--epochs", min=1, help="Training epochs.")]
ResumeOpt = Annotated[
    bool, typer.Option("--resume", help="Continue interrupted runs in --out; skip finished ones.")
]


def _metrics_line(metrics: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if k != "loss")


def _check_fresh(out: Path, resume: bool) -> None:
    if not resume and out.exists() and any(out.glob("**/config.json")):
        raise ValueError(
            f"{out} already holds runs; pass --resume to continue them or choose another --out."
        )


@app.command("train")
@user_errors
def train(
    data: Annotated[str | None, typer.Option("--data", help=DATA_HELP)] = None,
    model: Annotated[
        str | None,
        typer.Option("--model", help="mmcl, self_mm, shared_private_cov, late_fusion, ..."),
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="Run folder.")] = Path("runs/train"),
    seeds: SeedsOpt = 1,
    epochs: EpochsOpt = None,
    overrides: SetOpt = None,
    recipe: RecipeOpt = None,
    preset: PresetOpt = None,
    resume: ResumeOpt = False,
) -> None:
    """Train K seeds into OUT/seed-<s>/ and summarise test metrics as mean and std."""
    from mmcl.data.loader import load_data
    from mmcl.training.config import resolve_config
    from mmcl.training.runs import train_seeds

    extra = [f'preset="{preset}"'] if preset else []
    cfg = resolve_config(recipe, model, data, epochs, [*extra, *(overrides or [])])
    _check_fresh(out, resume)
    if data is None and cfg.data == "synthetic":  # neither --data nor the recipe chose
        cfg = dataclasses.replace(cfg, data=default_data())
    ds = load_data(cfg.data, cfg.preset or None)
    console.print(
        f"training {cfg.model} on {ds.source} ({ds.task.metrics}), seeds 0..{seeds - 1} -> {out}"
    )
    summary = train_seeds(cfg, ds, out, list(range(seeds)), resume=resume)
    console.print(f"selection: best validation {summary['selection']['metric']}")
    for k, v in summary["test"].items():
        console.print(f"  test {k:<14} {v['mean']:.4f} ± {v['std']:.4f}")
    console.print(f"wrote {out / 'summary.md'}")


@app.command("evaluate")
@user_errors
def evaluate_cmd(
    run: Annotated[Path, typer.Argument(help="Run folder (one seed, or several seed-* folders).")],
    data: RunDataOpt = None,
    split: Annotated[str, typer.Option("--split")] = "test",
    preset: PresetOpt = None,
) -> None:
    """Evaluate a trained run on a split; writes eval-<split>.json into each seed folder."""
    from mmcl.evaluation.inference import evaluate_run
    from mmcl.evaluation.report import summarize

    results = evaluate_run(run, data, split, preset)
    for r in results:
        console.print(f"seed {r['seed']}: {_metrics_line(r['metrics'])}", highlight=False)
    if len(results) > 1:
        for k, v in summarize([r["metrics"] for r in results]).items():
            console.print(f"  {split} {k:<14} {v['mean']:.4f} ± {v['std']:.4f}")


@app.command("predict")
@user_errors
def predict_cmd(
    run: Annotated[Path, typer.Argument(help="Run folder.")],
    out: Annotated[Path | None, typer.Option("--out", help="CSV file to write.")] = None,
    data: RunDataOpt = None,
    split: Annotated[str, typer.Option("--split")] = "test",
    preset: PresetOpt = None,
    text: Annotated[str | None, typer.Option("--text", help="Predict one raw transcript.")] = None,
    inp: Annotated[
        Path | None,
        typer.Option("--in", help="CSV of raw transcripts (with --text-col, --id-col)."),
    ] = None,
    text_col: Annotated[str, typer.Option("--text-col")] = "text",
    id_col: Annotated[str, typer.Option("--id-col")] = "id",
    audio: Annotated[
        Path | None, typer.Option("--audio", help="A WAV file for the audio modality.")
    ] = None,
) -> None:
    """Predict a dataset split (CSV), or raw transcripts (--text, --in) as the run was fed."""
    import csv
    import json

    from mmcl.evaluation.inference import predict_raw, predict_run
    from mmcl.training.runs import write_text

    if text is not None or inp is not None or audio is not None:
        texts = None
        if text is not None:
            texts, ids = [text], ["input"]
        elif inp is not None:
            if not inp.is_file():
                raise ValueError(f"--in {inp}: no such file.")
            with open(inp, newline="", encoding="utf-8") as f:
                rows = list(csv.DictReader(f))
            if rows and (text_col not in rows[0] or id_col not in rows[0]):
                raise ValueError(
                    f"{inp}: needs columns '{id_col}' and '{text_col}'; has {list(rows[0])}."
                )
            texts, ids = [r[text_col] for r in rows], [r[id_col] for r in rows]
        else:
            ids = [audio.stem]
        wavs = None if audio is None else [audio] * len(ids)
        seed_dir, records = predict_raw(run, ids, texts, wavs)
        if out is not None:
            import io

            buf = io.StringIO()
            writer = csv.DictWriter(buf, fieldnames=list(records[0]))
            writer.writeheader()
            writer.writerows(records)
            write_text(out, buf.getvalue())
            console.print(f"wrote {len(records)} predictions from {seed_dir} to {out}")
        else:
            for r in records:
                console.print(json.dumps(r, ensure_ascii=False), highlight=False, soft_wrap=True)
        return
    if out is None:
        raise ValueError("--out is required when predicting a dataset split.")
    seed_dir, csv_text = predict_run(run, data, split, preset)
    write_text(out, csv_text)
    console.print(f"wrote {csv_text.count(chr(10)) - 1} predictions from {seed_dir} to {out}")


@app.command("ablate")
@user_errors
def ablate(
    data: Annotated[str | None, typer.Option("--data", help=DATA_HELP)] = None,
    out: Annotated[Path, typer.Option("--out", help="Folder for the runs and tables.")] = Path(
        "runs/ablate"
    ),
    seeds: SeedsOpt = 3,
    epochs: EpochsOpt = None,
    overrides: SetOpt = None,
    recipe: RecipeOpt = None,
    only: Annotated[
        str | None, typer.Option("--only", help="Comma-separated subset of the grid's row names.")
    ] = None,
    resume: ResumeOpt = False,
) -> None:
    """Run the MMCL ablation grid and write ablation.md / ablation.csv (mean ± std)."""
    from mmcl.data.loader import load_data
    from mmcl.training.ablation import run_ablation
    from mmcl.training.config import resolve_config

    cfg = resolve_config(recipe, "mmcl" if not recipe else None, data, epochs, overrides)
    _check_fresh(out, resume)
    if data is None and cfg.data == "synthetic":
        cfg = dataclasses.replace(cfg, data=default_data())
    ds = load_data(cfg.data, cfg.preset or None)
    names = [n.strip() for n in only.split(",")] if only else None
    run_ablation(cfg, ds, out, list(range(seeds)), names, resume=resume)
    console.print((out / "ablation.md").read_text(), highlight=False)


@app.command("compare")
@user_errors
def compare(
    models: Annotated[
        str,
        typer.Option(
            "--models",
            help="Comma-separated model specs; the first is the reference for the tests. "
            "e.g. shared_private_cov,shared_private_cov:lambda_cov=0,self_mm,unimodal:text",
        ),
    ],
    data: Annotated[str | None, typer.Option("--data", help=DATA_HELP)] = None,
    out: Annotated[Path, typer.Option("--out", help="Folder for the runs and tables.")] = Path(
        "runs/compare"
    ),
    seeds: SeedsOpt = 3,
    epochs: EpochsOpt = None,
    overrides: SetOpt = None,
    recipe: RecipeOpt = None,
    preset: PresetOpt = None,
    jobs: Annotated[int, typer.Option("--jobs", min=1, help="Parallel training processes.")] = 1,
    resume: ResumeOpt = False,
) -> None:
    """Train each model for K seeds; write compare.md/.csv/.json, p-values and compare.png."""
    from mmcl.data.loader import load_data
    from mmcl.training.compare import run_compare

    specs = [m.strip() for m in models.split(",") if m.strip()]
    extra = [f'preset="{preset}"'] if preset else []
    _check_fresh(out, resume)
    data = data or default_data()
    ds = load_data(data, preset)
    run_compare(
        specs, ds, out, list(range(seeds)), recipe, epochs, [*extra, *(overrides or [])], data, jobs
    )
    console.print((out / "compare.md").read_text(), highlight=False)
    console.print(f"plot: {out / 'compare.png'}")


@app.command("robustness")
@user_errors
def robustness(
    run: Annotated[Path, typer.Argument(help="Run folder (the validation-best seed is used).")],
    data: RunDataOpt = None,
    split: Annotated[str, typer.Option("--split")] = "test",
    out: Annotated[
        Path | None, typer.Option("--out", help="Folder for the report (default: RUN).")
    ] = None,
    preset: PresetOpt = None,
) -> None:
    """Missing, shifted and noisy modalities: a table (md, csv) and a plot."""
    from mmcl.evaluation.inference import best_seed_dir, load_for
    from mmcl.evaluation.metrics import SELECTION_METRIC
    from mmcl.evaluation.robustness import (
        plot_report,
        report_csv,
        report_markdown,
        robustness_report,
    )
    from mmcl.training.runs import write_json, write_text

    seed_dir = best_seed_dir(run)
    model, _, ds = load_for(seed_dir, data, preset)
    if split not in ds.splits:
        raise ValueError(f"--split must be one of {sorted(ds.splits)}.")
    rows = robustness_report(model, ds.splits[split], ds.task.metrics)
    folder = out or Path(run)
    write_text(
        folder / "robustness.md",
        f"Robustness of {seed_dir} on {ds.source} [{split}]\n\n" + report_markdown(rows),
    )
    write_text(folder / "robustness.csv", report_csv(rows))
    write_json(folder / "robustness.json", rows)
    plot_report(rows, SELECTION_METRIC[ds.task.metrics][0], folder / "robustness.png")
    console.print(report_markdown(rows), highlight=False)
    console.print(f"wrote {folder / 'robustness.md'} and robustness.png")


def default_data() -> str:
    """The real MOSI (text + audio) when it can be had, else the synthetic set, said aloud.

    Looks for an imported copy in data/mosi, else imports $MMCL_MOSI_SRC or ../shared/data/mosi
    into data/mosi once (research data: it is never shipped inside the package)."""
    import os

    local = Path("data/mosi")
    if (local / "manifest.json").is_file():
        return str(local)
    src = Path(os.environ.get("MMCL_MOSI_SRC", "../shared/data/mosi"))
    if (src / "labels.csv").is_file():
        from mmcl.features.importers import import_dataset

        console.print(f"importing the real MOSI from {src} into {local} (once; about a minute) ...")
        import_dataset("mosi", src, local, max_len=24)
        return str(local)
    err_console.print(
        f"[yellow]note:[/yellow] real MOSI not found (no {local}, no {src}/labels.csv; set "
        "MMCL_MOSI_SRC); using the synthetic planted-signal data instead.",
        highlight=False,
    )
    return "synthetic"


@app.command("demo")
@user_errors
def demo(
    data: Annotated[
        str | None, typer.Option("--data", help="Dataset (default: the real MOSI, see README).")
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="Where the demo runs go.")] = Path("runs/demo"),
) -> None:
    """Train MMCL and late fusion on the default data, beside a linear floor and a constant."""
    import shutil

    from mmcl.data.loader import load_data
    from mmcl.data.summary import describe, format_description
    from mmcl.evaluation.baselines import constant_predictions, linear_floor
    from mmcl.evaluation.metrics import evaluate
    from mmcl.evaluation.report import markdown_table, summarize
    from mmcl.training.config import resolve_config
    from mmcl.training.runs import train_seeds

    spec = data or default_data()
    ds = load_data(spec)
    console.print(format_description(describe(ds)), highlight=False)
    shutil.rmtree(out, ignore_errors=True)
    rows = {}
    for model in ("mmcl", "late_fusion"):
        cfg = resolve_config("demo", model=model, data=spec)
        console.print(f"training {model} ...")
        rows[f"{model} (test)"] = train_seeds(cfg, ds, out / model, [0])["test"]
    test = ds.splits["test"]
    floor, _ = linear_floor(ds)
    rows["linear floor (test)"] = summarize([evaluate(ds.task.metrics, floor, test.labels)])
    const = constant_predictions(ds.splits["train"].labels, ds.task, len(test))
    rows["constant (test)"] = summarize([evaluate(ds.task.metrics, const, test.labels)])
    console.print(f"\ndata: {ds.source}; one seed, best epoch by validation MAE\n")
    console.print(markdown_table(rows), highlight=False)
    console.print(f"runs, configs and CSD/gate heatmaps in {out}/")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
