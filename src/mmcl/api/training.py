"""Training and experiments: train, evaluate, compare, ablate, tune, robustness, demo."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmcl import distributed
from mmcl.api.options import Overrides, data_spec, joined, reporting, settings
from mmcl.errors import UserError
from mmcl.experiments.grid import GridResult


@dataclass
class TrainResult:
    """What `train` made: the run folder, one folder per seed, and the summary over seeds
    (each split's metrics as mean and std, as summary.json holds them)."""

    out: Path
    seeds: list[Path]
    summary: dict[str, Any] = field(repr=False)

    @property
    def text(self) -> str:
        from mmcl.evaluation.report import format_summary

        return format_summary(self.summary, self.out / "summary.md")


def train(
    data: str | Path | None = None,
    model: str | None = None,
    *,
    out: str | Path = "runs/train",
    seeds: int = 1,
    epochs: int | None = None,
    recipe: str | None = None,
    preset: str | None = None,
    overrides: Overrides = None,
    resume: bool = False,
    nproc: int = 1,
    progress: bool = False,
) -> TrainResult:
    """Train seeds 0..seeds-1 of `model` on `data` into OUT/seed-<s>/ (defaults < recipe <
    arguments < overrides, as `mmcl train`); `nproc` > 1 trains each seed data-parallel
    in that many processes of one torchrun launch on this machine."""
    options = dict(locals())  # the keyword options: first, before any other name is bound
    if seeds < 1:
        raise UserError(f"seeds = {seeds}: train at least one seed.")
    if nproc < 1:
        raise UserError(f"nproc = {nproc}: give at least one process.")
    from mmcl.experiments.train import train_from_options
    from mmcl.run_folder import seed_dirs

    out = Path(out)
    if nproc > 1 and not distributed.launched():
        # each rank gets the same keywords, as JSON: paths and overrides as strings
        as_json = dict(data=data_spec(data), out=str(out), overrides=settings(overrides))
        return _torchrun(nproc, options | as_json)
    extra = [f'preset="{preset}"'] if preset else []
    with reporting(progress) as say:
        summary = train_from_options(
            recipe, model, data_spec(data), epochs, [*extra, *settings(overrides)], out, seeds,
            resume, say,
        )  # fmt: skip
    return TrainResult(out, seed_dirs(out), summary)


def _torchrun(nproc: int, how: dict[str, Any]) -> TrainResult:
    """`train(**how)` in `nproc` processes of one torchrun launch; the result is read from
    the run folder rank 0 wrote."""
    from mmcl.data.io import read_json
    from mmcl.run_folder import seed_dirs

    with tempfile.TemporaryDirectory(prefix="mmcl-torchrun-") as tmp:
        args = Path(tmp) / "train.json"
        args.write_text(json.dumps(how))
        code = distributed.relaunch(nproc, "mmcl.api.torchrun", [str(args)])
    if code != 0:
        raise UserError(f"training under torchrun failed (exit code {code}); see the log above.")
    out = Path(how["out"])
    summary = read_json(out / "summary.json")
    return TrainResult(out, seed_dirs(out), summary)


@dataclass
class Evaluation:
    """What `evaluate` measured: one record per seed ({"seed", "metrics", ...})."""

    split: str
    records: list[dict[str, Any]] = field(repr=False)

    @property
    def text(self) -> str:
        from mmcl.evaluation.report import format_evaluation

        return format_evaluation(self.records, self.split)


def evaluate(
    run: str | Path,
    *,
    data: str | Path | None = None,
    split: str = "test",
    preset: str | None = None,
) -> Evaluation:
    """Each seed's metrics on `split` of `data` (default: the data the run trained on);
    writes eval-<split>.json into each seed folder, as `mmcl evaluate`."""
    from mmcl.evaluation.inference import evaluate_run

    return Evaluation(split, evaluate_run(Path(run), data_spec(data), split, preset))


@dataclass
class GridOptions:
    """How a grid (`compare`, `ablate`) runs; `storage`: as one machine's workers of a grid
    shared through a study database (see docs/scaling.md)."""

    data: str | Path | None = None
    out: str | Path = "runs/compare"
    preset: str | None = None
    overrides: Overrides = None
    jobs: int = 1
    resume: bool = False
    storage: str | None = None
    study: str | None = None
    heartbeat: int | None = None
    progress: bool = False


def _grid(grid: Any, o: GridOptions) -> GridResult | None:
    """The grid's table; None for a worker of a shared grid that did not write it."""
    from mmcl.experiments.grid import run_grid_on
    from mmcl.experiments.grid_workers import run_grid_on_storage
    from mmcl.experiments.studies import HEARTBEAT

    data, out, extra = data_spec(o.data) or grid.data, Path(o.out), settings(o.overrides)
    with reporting(o.progress) as say:
        if o.storage is None:
            return run_grid_on(grid, data, out, o.preset, extra, o.jobs, o.resume, say)
        return run_grid_on_storage(
            grid, data, out, o.storage, o.study, o.preset, extra, o.jobs,
            o.heartbeat or HEARTBEAT, say,
        )  # fmt: skip


def compare(
    models: str | Sequence[str] | None = None,
    *,
    grid: str | Path | None = None,
    data: str | Path | None = None,
    out: str | Path = "runs/compare",
    seeds: int | None = None,
    epochs: int | None = None,
    recipe: str | None = None,
    only: str | Sequence[str] | None = None,
    preset: str | None = None,
    overrides: Overrides = None,
    jobs: int = 1,
    resume: bool = False,
    storage: str | None = None,
    study: str | None = None,
    heartbeat: int | None = None,
    progress: bool = False,
) -> GridResult | None:
    """Train each model spec (e.g. "late_fusion", "unimodal:text", "mmcl:variant=reference")
    or a grid file's rows (`only` some of them) for several seeds; the table (means, stds,
    per-seed values, p-values against the first row) as data and in
    OUT/compare.{md,csv,json,png}. With `storage`, this machine's workers of a grid shared
    through a study database (docs/scaling.md); a worker that did not write the table gets
    None."""
    from mmcl.experiments.grid import grid_from_options

    chosen = grid_from_options(joined(models), None if grid is None else str(grid))
    chosen = chosen.with_options(seeds, epochs, recipe, joined(only))
    how = GridOptions(
        data, out, preset, overrides, jobs, resume, storage, study, heartbeat, progress
    )
    return _grid(chosen, how)


def ablate(
    *,
    data: str | Path | None = None,
    out: str | Path = "runs/ablate",
    seeds: int | None = None,
    epochs: int | None = None,
    recipe: str | None = None,
    only: str | Sequence[str] | None = None,
    overrides: Overrides = None,
    jobs: int = 1,
    resume: bool = False,
    storage: str | None = None,
    study: str | None = None,
    heartbeat: int | None = None,
    progress: bool = False,
) -> GridResult | None:
    """`compare` on the MMCL ablation grid (recipes/grids/mmcl_ablation.toml)."""
    options = dict(locals())  # the keyword options: first, before any other name is bound
    from mmcl.experiments.grid import ABLATION_GRID

    return compare(**options, grid=ABLATION_GRID)


def tune(
    data: str | Path | None = None,
    model: str | None = None,
    *,
    trials: int = 20,
    out: str | Path = "runs/tune",
    storage: str | None = None,
    study: str | None = None,
    space: str | Path | None = None,
    timeout: float | None = None,
    jobs: int = 1,
    recipe: str | None = None,
    epochs: int | None = None,
    overrides: Overrides = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Add `trials` Optuna trials (validation only; test never read) to the study and write
    best.toml, trials.csv and plots to `out`; returns the best trial."""
    from mmcl.experiments.tune import tune as _tune

    with reporting(progress) as say:
        return _tune(
            data_spec(data), model, trials, Path(out), storage, study, space, timeout, jobs, recipe,
            epochs, settings(overrides), say=say,
        )  # fmt: skip


@dataclass
class Robustness:
    """What `robustness` wrote: the table (Markdown) and the folder of robustness.*."""

    markdown: str
    folder: Path


def robustness(
    run: str | Path,
    *,
    data: str | Path | None = None,
    split: str = "test",
    out: str | Path | None = None,
    preset: str | None = None,
    overwrite: bool = False,
) -> Robustness:
    """The run's validation-best seed under missing, shifted and noisy modalities: a
    table and a plot, robustness.{md,csv,json,png} in `out` (default: the run folder; in
    another folder, files of those names are replaced only with `overwrite`)."""
    from mmcl.experiments.robustness import write_robustness

    where = None if out is None else Path(out)
    table, folder = write_robustness(Path(run), data_spec(data), split, where, preset, overwrite)
    return Robustness(table, folder)


def demo(
    data: str | Path | None = None, *, out: str | Path = "runs/demo", progress: bool = False
) -> str:
    """MMCL and late fusion trained on `data` (default: the embedded MOSI features) beside
    a linear floor and a constant; returns the test table (Markdown)."""
    from mmcl.experiments.demo import run_demo

    with reporting(progress) as say:
        return run_demo(data_spec(data), Path(out), say)
