"""The `mmcl` command line: parse, call one function of the Python API (`mmcl.*`), print.
Each command's parameters are named as its API function's keywords, so a command passes
them on as `**locals()`. A user's mistake (`UserError`: bad option, bad file) is one line
on stderr and exit code 2; anything else is a bug of ours: its traceback is shown, with a
request to report it."""

from __future__ import annotations

import functools
import json
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

import mmcl
from mmcl import UserError

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
BUDGET = "GB an input may make mmcl allocate (default: 32x its disk size, 0.5 to 1/4 of memory)."
BUG = "a bug in mmcl, not your mistake; please report it with the traceback above."


def say(text: str) -> None:
    """Print `text` as written: it holds user text (paths, ids, transcripts), never markup."""
    console.print(text, markup=False, highlight=False)


def _tell(console_: Console, label: str, style: str, message: object) -> None:
    """'label: message' with only the label styled; the message is printed literally."""
    console_.print(Text.assemble((f"{label}:", style), " ", str(message)), highlight=False)


def command(group: typer.Typer, name: str) -> Callable[[Callable[..., Any]], Any]:
    """Register as `name` in `group`: our errors -> one line, exit 2; others -> a traceback."""

    def register(fn: Callable[..., Any]) -> Any:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            warnings.showwarning = lambda msg, *_: _tell(err_console, "warning", "yellow", msg)
            try:
                return fn(*args, **kwargs)
            except (typer.Exit, typer.Abort, KeyboardInterrupt):
                raise
            except Exception as e:
                if (mistake := UserError.of(e)) is not None:
                    _tell(err_console, "error", "red", mistake)
                    raise typer.Exit(2) from None
                traceback.print_exc(file=sys.stderr)
                _tell(err_console, "internal error", "red", BUG)
                raise typer.Exit(1) from None

        return group.command(name)(wrapper)

    return register


@app.callback()
def main(
    memory_budget: Annotated[float | None, Opt("--memory-budget", min=0.01, help=BUDGET)] = None,
) -> None:
    if memory_budget is not None:  # here and in worker processes
        mmcl.set_memory_budget(memory_budget)


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
StorageOpt = Annotated[str | None, Opt("--storage", help="Study database: SQLite file or URL.")]
StudyOpt = Annotated[str | None, Opt("--study", help="Study name (default: from --out).")]
HeartbeatOpt = Annotated[int | None, Opt("--heartbeat", min=1, help="Worker liveness (s).")]


@command(data_app, "inspect")
def data_inspect(
    path: Annotated[str, Arg(help="Dataset path, or 'synthetic'.")],
    preset: PresetOpt = None,
    as_json: Annotated[bool, Opt("--json", help="Print JSON.")] = False,
    label_column: LabelColOpt = None,
) -> None:
    """Splits, modalities with shapes and lengths, label statistics, cleaned values, preset."""
    info = mmcl.describe(path, preset, label_column=label_column)
    say(json.dumps(info.info, indent=2) if as_json else info.text)


@command(data_app, "convert")
def data_convert(
    src: Annotated[str, Arg(help="Any readable dataset (pickle, .csd folder, native).")],
    out: OutFolder,
    preset: PresetOpt = None,
    overwrite: OverwriteOpt = False,
    label_column: LabelColOpt = None,
    csd_max_len: Annotated[int | None, Opt("--csd-max-len", min=1, help="Frames kept.")] = None,
) -> None:
    """Convert a dataset to the native format (safe, memory-mapped; later runs use it)."""
    say(f"wrote {out} ({mmcl.convert(**locals()).sizes()})")


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
    ds = mmcl.import_dataset(**locals(), progress=True)
    say(f"wrote {out}: {ds.sizes()}, modalities {ds.dims()}")


@command(extract_app, "text")
def extract_text_cmd(
    texts: Annotated[Path, Opt("--in", help="CSV file with an id and a text column.")],
    out: Annotated[Path, Opt("--out", help="Output folder (text feature table).")],
    text_col: Annotated[str, Opt("--text-col")] = "text",
    id_col: IdColsOpt = "id",
    model: TextModelOpt = "",
    max_len: Annotated[int, Opt("--max-len", min=2)] = 50,
    batch_size: Annotated[int, Opt("--batch-size", min=1)] = 64,
    overwrite: OverwriteOpt = False,
) -> None:
    """Token-level sequences, a pooled sentence vector and word-piece ids per text (offline)."""
    say(mmcl.extract_text(**locals(), progress=True).text)


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
    say(mmcl.extract_audio(**locals(), progress=True).text)


@command(extract_app, "video")
def extract_video_cmd(
    videos: Annotated[Path, Opt("--videos", help="Video folder, or CSV: id,path[,transcript]")],
    out: Annotated[Path, Opt("--out", help="Output folder: vision, audio, text tables.")],
    fps: Annotated[float, Opt("--fps", min=0.1, help="Face frames sampled per second.")] = 10.0,
    max_seconds: Annotated[float, Opt("--max-seconds", min=1, help="Longest video.")] = 3600,
    model: TextModelOpt = "",
    overwrite: OverwriteOpt = False,
) -> None:
    """Face geometry, soundtrack features and transcript (or recognised speech) per video."""
    say(mmcl.extract_video(**locals(), progress=True).text)


@command(data_app, "assemble")
def data_assemble(
    labels: Annotated[Path, Opt("--labels", help="CSV with ids, labels and (optional) splits.")],
    tables: Annotated[list[str], Opt("--features", help="MODALITY=FOLDER; repeat.")],
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
    say(f"wrote {out}: {mmcl.assemble(**locals()).sizes()}")


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
    unimodal_labels: Annotated[bool, Opt("--unimodal-labels", help="And per modality.")] = False,
    seed: Annotated[int, Opt("--seed")] = 0,
    overwrite: OverwriteOpt = False,
) -> None:
    """Write synthetic data with a planted common + specific signal."""
    mmcl.synthesize(**locals())
    say(f"wrote {fmt} synthetic {task} data to {out}")


@command(app, "train")
def train(
    data: DataOpt = None,
    model: Annotated[str | None, Opt("--model", help="mmcl, self_mm, late_fusion, ...")] = None,
    out: Annotated[Path, Opt("--out", help="Run folder.")] = Path("runs/train"),
    seeds: Annotated[int, Opt("--seeds", min=1, help="Seeds 0..K-1, one run each.")] = 1,
    epochs: EpochsOpt = None,
    overrides: SetOpt = None,
    recipe: RecipeOpt = None,
    preset: PresetOpt = None,
    resume: ResumeOpt = False,
    nproc: Annotated[int, Opt("--nproc", min=1, help="Data-parallel processes (torchrun).")] = 1,
) -> None:
    """Train K seeds into OUT/seed-<s>/ and summarise test metrics as mean and std."""
    say(mmcl.train(**locals(), progress=True).text)


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
    """Optuna on the validation split (test never read): best.toml, trials.csv, plots. Run
    again (or on other machines sharing --storage) to add trials to the same study."""
    mmcl.tune(**locals(), progress=True)


@command(app, "evaluate")
def evaluate_cmd(
    run: Annotated[Path, Arg(help="Run folder (one seed, or several seed-* folders).")],
    data: RunDataOpt = None,
    split: SplitOpt = "test",
    preset: PresetOpt = None,
) -> None:
    """Evaluate a trained run on a split; writes eval-<split>.json into each seed folder."""
    say(mmcl.evaluate(**locals()).text)


@command(app, "predict")
def predict_cmd(
    run: Annotated[Path, Arg(help="Run folder.")],
    out: Annotated[Path | None, Opt("--out", help="CSV file to write.")] = None,
    data: RunDataOpt = None,
    split: SplitOpt = "test",
    preset: PresetOpt = None,
    text: Annotated[str | None, Opt("--text", "--transcript", help="A transcript.")] = None,
    texts_csv: Annotated[Path | None, Opt("--in", help="CSV of transcripts or videos.")] = None,
    text_col: Annotated[str, Opt("--text-col")] = "text",
    id_col: IdColsOpt = "id",
    audio: Annotated[Path | None, Opt("--audio", help="A WAV file (audio modality).")] = None,
    video: Annotated[Path | None, Opt("--video", help="A video file (all modalities).")] = None,
    missing: Annotated[str | None, Opt("--missing", help="zero|mean: an absent modality.")] = None,
    overwrite: Annotated[bool, Opt("--overwrite", help="Replace the --out file.")] = False,
) -> None:
    """Predict a dataset split (CSV), or raw transcripts, audio or videos as the run was fed."""
    say(mmcl.predict(**locals()).text)


def _grid_cli(name: str, default_grid: str | None, default_out: str, doc: str) -> None:
    """Register `compare` and `ablate`: one set of options, a grid by default or not."""

    def run(
        models: Annotated[str | None, Opt("--models", help="Comma-separated specs.")] = None,
        grid: Annotated[str | None, Opt("--grid", help="TOML, or a shipped grid.")] = default_grid,
        data: DataOpt = None,
        out: Annotated[Path, Opt("--out", help="Folder for runs and tables.")] = Path(default_out),
        seeds: Annotated[int | None, Opt("--seeds", min=1, help="Default: grid's, or 3.")] = None,
        epochs: EpochsOpt = None,
        overrides: SetOpt = None,
        recipe: RecipeOpt = None,
        only: Annotated[str | None, Opt("--only", help="Comma-separated subset of rows.")] = None,
        preset: PresetOpt = None,
        jobs: JobsOpt = 1,
        resume: ResumeOpt = False,
        storage: StorageOpt = None,
        study: StudyOpt = None,
        heartbeat: HeartbeatOpt = None,
    ) -> None:
        if models and grid == default_grid:  # --models replaces the default grid
            grid = None
        options = {k: v for k, v in locals().items() if k != "default_grid"}  # not an option
        result = mmcl.compare(**options, progress=True)
        if result is not None:
            say(f"{result.markdown}\ntables and plot: {out / 'compare.md'}, {out / 'compare.png'}")

    run.__doc__ = doc
    command(app, name)(run)


_grid_cli("compare", None, "runs/compare", "Train each model for K seeds: table, p-values, plot.")
_grid_cli("ablate", "mmcl_ablation", "runs/ablate", "MMCL's ablation grid: table, p-values, plot.")


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
    made = mmcl.robustness(**locals())
    say(f"{made.markdown}\nwrote {made.folder / 'robustness.md'} and robustness.png")


@command(app, "demo")
def demo(
    data: DataOpt = None,
    out: Annotated[Path, Opt("--out", help="Where the demo runs go.")] = Path("runs/demo"),
) -> None:
    """Train MMCL and late fusion on the default data, beside a linear floor and a constant."""
    say(f"{mmcl.demo(**locals(), progress=True)}\nruns, configs and CSD/gate heatmaps in {out}/")
