"""The `mmcl` command line: parse, call one library function, print. A user's mistake
(`UserError`: bad option, bad file) is one line on stderr and exit code 2; anything else is
a bug of ours: its traceback is shown, with a request to report it."""

from __future__ import annotations

import errno
import functools
import json
import os
import sys
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text
from typer import Argument as Arg
from typer import Option as Opt

from mmcl.data.csd import MAX_LEN
from mmcl.errors import UserError
from mmcl.experiments.studies import HEARTBEAT
from mmcl.limits import ENV

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Multimodal sentiment toolkit.",
    rich_markup_mode=None,  # option values a user typed are echoed in usage errors: literally
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(no_args_is_help=True, help="Read, convert, inspect and synthesise datasets.")
extract_app = typer.Typer(no_args_is_help=True, help="Offline feature extraction from raw inputs.")
app.add_typer(data_app, name="data")
app.add_typer(extract_app, name="extract")
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)
PATH_ERRORS = {
    errno.EACCES, errno.EPERM, errno.EISDIR, errno.ENOTDIR, errno.EEXIST, errno.ENOSPC,
    errno.EROFS, errno.ENAMETOOLONG, errno.ELOOP, errno.EDQUOT,
}  # fmt: skip
BUG = "a bug in mmcl, not your mistake; please report it with the traceback above."


def say(text: str) -> None:
    """Print `text` as written: it holds user text (paths, ids, transcripts), never markup."""
    console.print(text, markup=False, highlight=False)


def _tell(console_: Console, label: str, style: str, message: object) -> None:
    """'label: message' with only the label styled; the message is printed literally."""
    console_.print(Text.assemble((f"{label}:", style), " ", str(message)), highlight=False)


def _show_warning(message: Warning | str, *_: Any, **__: Any) -> None:
    _tell(err_console, "warning", "yellow", message)


def command(group: typer.Typer, name: str) -> Callable[[Callable[..., Any]], Any]:
    """Register `fn` as `name` in `group`. Our errors -> one line and exit 2; any other
    exception -> its traceback, a request to report it, and exit 1."""

    def register(fn: Callable[..., Any]) -> Any:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            warnings.showwarning = _show_warning
            try:
                return fn(*args, **kwargs)
            except UserError as e:
                _tell(err_console, "error", "red", e)
                raise typer.Exit(2) from None
            except OSError as e:
                if e.errno not in PATH_ERRORS or not e.filename:
                    raise
                # the user's file system said no (permissions, a full or read-only disk, a
                # file where a folder is needed): theirs to fix, not a bug of ours
                _tell(err_console, "error", "red", f"{e.filename}: {e.strerror}.")
                raise typer.Exit(2) from None
            except (typer.Exit, typer.Abort, KeyboardInterrupt):
                raise
            except Exception:
                traceback.print_exc(file=sys.stderr)
                _tell(err_console, "internal error", "red", BUG)
                raise typer.Exit(1) from None

        return group.command(name)(wrapper)

    return register


@app.callback()
def main(
    memory_budget: Annotated[
        float | None,
        Opt(
            "--memory-budget",
            min=0.01,
            help="GB any one input may make mmcl allocate (default: 32x its size on disk, "
            "at least 0.5, at most a quarter of memory).",
        ),
    ] = None,
) -> None:
    """Multimodal sentiment toolkit."""
    if memory_budget is not None:  # read by mmcl.limits, here and in worker processes
        os.environ[ENV] = str(memory_budget)


PresetOpt = Annotated[str | None, Opt("--preset", help="mosi, mosei, sims, iemocap, ...")]
OverwriteOpt = Annotated[bool, Opt("--overwrite", help="Replace OUT if it exists.")]
DataOpt = Annotated[str | None, Opt("--data", help="Dataset path, 'synthetic'; default: MOSI.")]
RunDataOpt = Annotated[str | None, Opt("--data", help="Dataset (default: the run's).")]
SplitOpt = Annotated[str, Opt("--split")]
SetOpt = Annotated[list[str] | None, Opt("--set", help="Override a config value: train.lr=1e-3.")]
RecipeOpt = Annotated[str | None, Opt("--recipe", help="TOML recipe file, or a shipped name.")]
EpochsOpt = Annotated[int | None, Opt("--epochs", min=1, help="Training epochs.")]
ResumeOpt = Annotated[bool, Opt("--resume", help="Continue runs in --out; keep finished ones.")]
JobsOpt = Annotated[int, Opt("--jobs", min=1, help="Parallel training processes.")]
TextModelOpt = Annotated[str, Opt("--model", help="Local text model folder (default: MiniLM).")]
OutFolder = Annotated[Path, Arg(help="Output folder (native format).")]
IdColsOpt = Annotated[str, Opt("--id-col", "--id-cols", help="Id column(s): id, or a,b.")]
LabelColOpt = Annotated[int | None, Opt("--label-column", min=0, help="Of multi-column labels.")]


@command(data_app, "inspect")
def data_inspect(
    path: Annotated[str, Arg(help="Dataset path, or 'synthetic'.")],
    preset: PresetOpt = None,
    as_json: Annotated[bool, Opt("--json", help="Print JSON.")] = False,
    label_column: LabelColOpt = None,
) -> None:
    """Splits, modalities with shapes and lengths, label statistics, cleaned values, preset."""
    from mmcl.data.loader import load_data
    from mmcl.data.summary import describe, format_description

    info = describe(load_data(path, preset, label_column))
    say(json.dumps(info, indent=2) if as_json else format_description(info))


@command(data_app, "convert")
def data_convert(
    src: Annotated[str, Arg(help="Any readable dataset (pickle, .csd folder, native).")],
    out: OutFolder,
    preset: PresetOpt = None,
    overwrite: OverwriteOpt = False,
    label_column: LabelColOpt = None,
    csd_max_len: Annotated[int, Opt("--csd-max-len", min=1, help="Frames per segment.")] = MAX_LEN,
) -> None:
    """Convert a dataset to the native format (safe, memory-mapped; later runs use it)."""
    from mmcl.data.loader import load_data
    from mmcl.data.native import write_native

    ds = load_data(src, preset, label_column, csd_max_len)
    write_native(ds, out, overwrite=overwrite)
    say(f"wrote {out} ({ds.sizes()})")


@command(data_app, "import")
def data_import(
    name: Annotated[str, Arg(help="mosi, mmmo, youtube, iemocap or cmdc.")],
    src: Annotated[Path, Arg(help="The set's folder, e.g. ../shared/data/mosi.")],
    out: OutFolder,
    model: TextModelOpt = "",
    max_len: Annotated[int | None, Opt("--max-len", min=2, help="Text tokens kept.")] = None,
    overwrite: OverwriteOpt = False,
) -> None:
    """Import a real set of shared/data into the native format, with its official split."""
    from mmcl.features.importers import import_dataset

    ds = import_dataset(name, src, out, overwrite=overwrite, model=model, max_len=max_len)
    say(f"wrote {out}: {ds.sizes()}, modalities {ds.dims()}")


@command(extract_app, "text")
def extract_text_cmd(
    inp: Annotated[Path, Opt("--in", help="CSV file with an id and a text column.")],
    out: Annotated[Path, Opt("--out", help="Output folder (text feature table).")],
    text_col: Annotated[str, Opt("--text-col")] = "text",
    id_col: IdColsOpt = "id",
    model: TextModelOpt = "",
    max_len: Annotated[int, Opt("--max-len", min=2)] = 50,
    batch_size: Annotated[int, Opt("--batch-size", min=1)] = 64,
    overwrite: OverwriteOpt = False,
) -> None:
    """Token-level sequences, a pooled sentence vector and word-piece ids per text (offline)."""
    from mmcl.features.text import extract_text, read_texts

    texts, ids = read_texts(inp, text_col, id_col)
    feats, cached = extract_text(texts, ids, out, model, max_len, batch_size, overwrite)
    what = "unchanged (cached by content hash)" if cached else "wrote"
    say(f"{what} {out}: {len(feats.ids)} texts, features {feats.features.shape}")


@command(extract_app, "audio")
def extract_audio_cmd(
    wav_dir: Annotated[Path, Opt("--wav-dir", help="Folder of .wav files (id = file name).")],
    out: Annotated[Path, Opt("--out", help="Output folder (audio feature table).")],
    backend: Annotated[str, Opt("--backend", help="librosa, or opensmile (eGeMAPS).")] = "librosa",
    hop_ms: Annotated[float, Opt("--hop-ms", min=1.0, help="librosa frame hop.")] = 20.0,
    n_mfcc: Annotated[int, Opt("--n-mfcc", min=1)] = 13,
    max_frames: Annotated[int, Opt("--max-frames", min=1)] = 500,
    overwrite: OverwriteOpt = False,
) -> None:
    """Frame-level acoustic features per WAV (librosa MFCC/pitch/energy, or eGeMAPS), offline."""
    from mmcl.features.audio import AudioParams, extract_audio

    params = AudioParams(backend=backend, hop_ms=hop_ms, n_mfcc=n_mfcc, max_frames=max_frames)
    path, cached = extract_audio(wav_dir, out, params, overwrite)
    say(f"{'unchanged (cached by content hash)' if cached else 'wrote'} {path}")


@command(data_app, "assemble")
def data_assemble(
    labels: Annotated[Path, Opt("--labels", help="CSV with ids, labels and (optional) splits.")],
    features: Annotated[list[str], Opt("--features", help="MODALITY=FOLDER; repeat.")],
    out: Annotated[Path, Opt("--out", help="Output folder (native format).")],
    id_col: IdColsOpt = "id",
    label_col: Annotated[str, Opt("--label-col")] = "label",
    split_col: Annotated[str, Opt("--split-col")] = "split",
    preset: PresetOpt = None,
    task: Annotated[str, Opt("--task", help="regression or classification.")] = "regression",
    seed: Annotated[int, Opt("--seed", help="Seed of the split when the CSV has none.")] = 0,
    overwrite: OverwriteOpt = False,
    copy: Annotated[bool, Opt("--copy", help="Copy the features, not refer to tables.")] = False,
) -> None:
    """Join feature tables from `mmcl extract` with labels into a native dataset."""
    from mmcl.features.assemble import assemble, parse_tables

    how = (id_col, label_col, split_col, preset, task, seed, overwrite, copy)
    ds = assemble(labels, parse_tables(features), out, *how)
    say(f"wrote {out}: {ds.sizes()}")


@command(data_app, "synth")
def data_synth(
    out: Annotated[Path, Opt("--out", help="Folder (native) or file (pickles).")],
    fmt: Annotated[str, Opt("--format", help="native, mmsa or mult.")] = "native",
    task: Annotated[str, Opt("--task", help="regression, iemocap, classification")] = "regression",
    n_train: Annotated[int, Opt("--n-train")] = 600,
    n_valid: Annotated[int, Opt("--n-valid")] = 200,
    n_test: Annotated[int, Opt("--n-test")] = 200,
    seq_len: Annotated[int, Opt("--seq-len")] = 12,
    dims: Annotated[str, Opt("--dims", help="NAME=WIDTH,... (t, a, v)")] = "t=32,a=16,v=16",
    num_classes: Annotated[int, Opt("--num-classes")] = 3,
    common: Annotated[str | None, Opt("--common", help="Common-signal carriers: a,v.")] = None,
    noise: Annotated[float, Opt("--noise")] = 1.0,
    unimodal: Annotated[
        bool, Opt("--unimodal-labels", help="A label per modality too (regression).")
    ] = False,
    seed: Annotated[int, Opt("--seed")] = 0,
    overwrite: OverwriteOpt = False,
) -> None:
    """Write synthetic data with a planted common + specific signal."""
    from mmcl.data.synthetic import SynthConfig, parse_dims, parse_modalities, write_synthetic

    cfg = SynthConfig(task, n_train, n_valid, n_test, seq_len, parse_dims(dims), num_classes)
    cfg.common_modalities, cfg.noise, cfg.seed = parse_modalities(common), noise, seed
    cfg.unimodal_labels = unimodal
    write_synthetic(cfg, out, fmt, overwrite)
    say(f"wrote {fmt} synthetic {task} data to {out}")


@command(app, "train")
def train(
    ctx: typer.Context,
    data: DataOpt = None,
    model: Annotated[str | None, Opt("--model", help="mmcl, self_mm, late_fusion, ...")] = None,
    out: Annotated[Path, Opt("--out", help="Run folder.")] = Path("runs/train"),
    seeds: Annotated[int, Opt("--seeds", min=1, help="Seeds 0..K-1, one run each.")] = 1,
    epochs: EpochsOpt = None,
    overrides: SetOpt = None,
    recipe: RecipeOpt = None,
    preset: PresetOpt = None,
    resume: ResumeOpt = False,
    nproc: Annotated[
        int, Opt("--nproc", min=1, help="Data-parallel processes (torchrun on this machine).")
    ] = 1,
) -> None:
    """Train K seeds into OUT/seed-<s>/ and summarise test metrics as mean and std."""
    from mmcl import api, distributed
    from mmcl.evaluation.report import format_summary

    if nproc > 1 and not distributed.launched():  # torchrun runs this command N times
        raise typer.Exit(distributed.relaunch(nproc, _argv(ctx)))
    how = dict(out=out, seeds=seeds, epochs=epochs, recipe=recipe, preset=preset)
    result = api.train(data, model, **how, overrides=overrides, resume=resume, progress=True)
    if distributed.is_main():
        say(format_summary(result.summary, out / "summary.md"))
    distributed.leave()


def _argv(ctx: typer.Context) -> list[str]:
    """The command and the options it was given (not --nproc), as a command line."""
    args = [ctx.info_name or ""]
    for p in ctx.command.params:
        value = ctx.params.get(p.name or "")
        if p.name == "nproc" or value in (None, False) or value == p.default:
            continue
        flag = p.opts[0]
        values = value if isinstance(value, list | tuple) else [value]
        args += [flag] if value is True else [a for v in values for a in (flag, str(v))]
    return args


StorageOpt = Annotated[
    str | None,
    Opt("--storage", help="Study database: SQLite file or SQLAlchemy URL (postgresql://...)."),
]


@command(app, "tune")
def tune_cmd(
    data: DataOpt = None,
    model: Annotated[str | None, Opt("--model", help="Model to tune (default: mmcl).")] = None,
    trials: Annotated[int, Opt("--trials", min=1, help="Trials to add to the study.")] = 20,
    out: Annotated[Path, Opt("--out", help="Trials, best.toml, plots.")] = Path("runs/tune"),
    storage: StorageOpt = None,
    study: Annotated[str | None, Opt("--study", help="Study name (default: tune-MODEL).")] = None,
    space: Annotated[Path | None, Opt("--space", help="Search space TOML.")] = None,
    timeout: Annotated[float | None, Opt("--timeout", min=1, help="Seconds per process.")] = None,
    jobs: JobsOpt = 1,
    epochs: EpochsOpt = None,
    overrides: SetOpt = None,
    recipe: RecipeOpt = None,
) -> None:
    """Search hyper-parameters with Optuna on the validation split (test never read);
    writes best.toml, trials.csv and plots. Run again (or on other machines with one
    --storage) to add trials to the same study."""
    from mmcl import api

    how = dict(trials=trials, out=out, storage=storage, study=study, space=space, jobs=jobs)
    api.tune(data, model, **how, timeout=timeout, recipe=recipe, epochs=epochs,
             overrides=overrides, progress=True)  # fmt: skip


@command(app, "evaluate")
def evaluate_cmd(
    run: Annotated[Path, Arg(help="Run folder (one seed, or several seed-* folders).")],
    data: RunDataOpt = None,
    split: SplitOpt = "test",
    preset: PresetOpt = None,
) -> None:
    """Evaluate a trained run on a split; writes eval-<split>.json into each seed folder."""
    from mmcl import api
    from mmcl.evaluation.report import format_evaluation

    say(format_evaluation(api.evaluate(run, data=data, split=split, preset=preset), split))


@command(app, "predict")
def predict_cmd(
    run: Annotated[Path, Arg(help="Run folder.")],
    out: Annotated[Path | None, Opt("--out", help="CSV file to write.")] = None,
    data: RunDataOpt = None,
    split: SplitOpt = "test",
    preset: PresetOpt = None,
    text: Annotated[str | None, Opt("--text", help="Predict one raw transcript.")] = None,
    inp: Annotated[Path | None, Opt("--in", help="CSV of raw transcripts.")] = None,
    text_col: Annotated[str, Opt("--text-col")] = "text",
    id_col: IdColsOpt = "id",
    audio: Annotated[Path | None, Opt("--audio", help="A WAV file (audio modality).")] = None,
    missing: Annotated[
        str | None, Opt("--missing", help="zero|mean for an absent modality.")
    ] = None,
    overwrite: Annotated[bool, Opt("--overwrite", help="Replace the --out file.")] = False,
) -> None:
    """Predict a dataset split (CSV), or raw transcripts (--text, --in) as the run was fed."""
    from mmcl.evaluation.inference import predict_inputs

    args = (out, data, split, preset, text, inp, text_col, id_col, audio, missing, overwrite)
    seed_dir, n, records = predict_inputs(run, *args)
    for r in records if out is None else []:
        say(json.dumps(r, ensure_ascii=False))
    if out is not None:
        say(f"wrote {n} predictions from {seed_dir} to {out}")


StudyOpt = Annotated[str | None, Opt("--study", help="Study name (default: from --out).")]
HeartbeatOpt = Annotated[
    int, Opt("--heartbeat", min=1, help="Seconds; a worker silent for twice this is dead.")
]


def _grid_cli(name: str, default_grid: str | None, default_out: str, doc: str) -> None:
    """Register `compare` and `ablate`: one set of options, a grid by default or not."""

    def run(
        models: Annotated[str | None, Opt("--models", help="Comma-separated specs.")] = None,
        grid: Annotated[str | None, Opt("--grid", help="Grid TOML, or a shipped name.")] = (
            default_grid
        ),
        data: DataOpt = None,
        out: Annotated[Path, Opt("--out", help="Folder for runs and tables.")] = Path(default_out),
        seeds: Annotated[
            int | None, Opt("--seeds", min=1, help="Default: the grid's, or 3.")
        ] = None,
        epochs: EpochsOpt = None,
        overrides: SetOpt = None,
        recipe: RecipeOpt = None,
        only: Annotated[str | None, Opt("--only", help="Comma-separated subset of rows.")] = None,
        preset: PresetOpt = None,
        jobs: JobsOpt = 1,
        resume: ResumeOpt = False,
        storage: StorageOpt = None,
        study: StudyOpt = None,
        heartbeat: HeartbeatOpt = HEARTBEAT,
    ) -> None:
        from mmcl import api

        how = dict(data=data, out=out, seeds=seeds, epochs=epochs, recipe=recipe, only=only)
        how |= dict(preset=preset, overrides=overrides, jobs=jobs, resume=resume)
        how |= dict(storage=storage, study=study, heartbeat=heartbeat, progress=True)
        if models and grid == default_grid:  # --models replaces the default grid
            grid = None
        result = api.compare(models, grid=grid, **how)
        if result is not None:
            say(f"{result.markdown}\ntables and plot: {out / 'compare.md'}, {out / 'compare.png'}")

    run.__doc__ = doc
    command(app, name)(run)


_grid_cli(
    "compare", None, "runs/compare",
    "Train each model for K seeds; write compare.md/.csv/.json, p-values and compare.png.",
)  # fmt: skip
_grid_cli(
    "ablate", "mmcl_ablation", "runs/ablate",
    "Run the MMCL ablation grid (recipes/grids/mmcl_ablation.toml): table, tests, plot.",
)  # fmt: skip


@command(app, "robustness")
def robustness(
    run: Annotated[Path, Arg(help="Run folder (the validation-best seed is used).")],
    data: RunDataOpt = None,
    split: SplitOpt = "test",
    out: Annotated[Path | None, Opt("--out", help="Report folder (default: RUN).")] = None,
    preset: PresetOpt = None,
    overwrite: Annotated[bool, Opt("--overwrite", help="Replace a report in --out.")] = False,
) -> None:
    """Missing, shifted and noisy modalities: a table (md, csv) and a plot."""
    from mmcl.experiments.robustness import write_robustness

    table, folder = write_robustness(run, data, split, out, preset, overwrite)
    say(f"{table}\nwrote {folder / 'robustness.md'} and robustness.png")


@command(app, "demo")
def demo(
    data: DataOpt = None,
    out: Annotated[Path, Opt("--out", help="Where the demo runs go.")] = Path("runs/demo"),
) -> None:
    """Train MMCL and late fusion on the default data, beside a linear floor and a constant."""
    from mmcl.experiments.demo import run_demo

    say(f"{run_demo(data, out, say)}\nruns, configs and CSD/gate heatmaps in {out}/")
