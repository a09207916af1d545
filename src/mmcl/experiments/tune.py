"""`mmcl tune`: hyper-parameter search with Optuna on VALIDATION data only.

Each trial trains one run (the TPE sampler picks its settings from a search space, see
`recipes/spaces/<model>.toml`) with the test split removed from the data, so nothing of the
test set can leak into the choice. The median pruner stops a trial whose per-epoch validation
metric falls behind the median of earlier trials at the same epoch. The study lives in an
SQLAlchemy database (`mmcl.experiments.studies`): a second invocation, or a worker on another
machine pointed at the same URL, adds trials to the same study.

Outputs in OUT: `best.toml` (the best trial's full config as a recipe: `mmcl train --recipe
OUT/best.toml --seeds 5` then reports it with test metrics), `trials.csv`, and Optuna's
optimisation-history and parameter-importance plots; every trial's run folder is in
OUT/trials/.
"""

from __future__ import annotations

import csv
import io
import math
import os
import shutil
import socket
import zlib
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from importlib import resources
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from mmcl.config import RunConfig, read_toml, resolve_config, toml_value
from mmcl.data.dataset import Dataset
from mmcl.data.loader import load_data
from mmcl.errors import UserError
from mmcl.experiments.defaults import default_data
from mmcl.experiments.runs import train_run
from mmcl.experiments.studies import HEARTBEAT, masked, open_storage, storage_url
from mmcl.run_folder import write_text
from mmcl.training.trainer import CHECKPOINT, NonFiniteLoss, selection_rule


# -- search spaces --------------------------------------------------------------------------
def space_path(model: str, path: str | Path | None = None) -> Path:
    """`path`, or the search space shipped for `model`."""
    if path is not None:
        if not Path(path).is_file():
            raise UserError(f"--space {path}: no such file.")
        return Path(path)
    shipped = resources.files("mmcl.recipes").joinpath("spaces", f"{model}.toml")
    if not shipped.is_file():
        raise UserError(f"no search space ships for '{model}'; give one with --space FILE.toml.")
    return Path(str(shipped))


def load_space(model: str, path: str | Path | None = None) -> dict[str, dict[str, Any]]:
    """The `[params]` table of a search space: config field -> {low, high[, log]} or
    {choices}."""
    file = space_path(model, path)
    params = read_toml(file, "--space").get("params")
    if not isinstance(params, dict) or not params:
        raise UserError(f"{file}: needs a [params] table with at least one field to search.")
    for key, spec in params.items():
        ok = isinstance(spec, dict) and (
            (isinstance(spec.get("choices"), list) and spec["choices"])
            or (
                {"low", "high"} <= set(spec)
                and all(_number(spec[k]) for k in ("low", "high"))
                and spec["low"] < spec["high"]
            )
        )
        if not ok:
            raise UserError(
                f"{file}: params.{key} = {spec!r}; give {{low = .., high = ..}} (low < high, "
                "optional log = true) or {choices = [..]}."
            )
    return params


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def suggest(trial: Any, space: dict[str, dict[str, Any]]) -> list[str]:
    """The trial's settings as --set overrides."""
    out = []
    for key, spec in space.items():
        if "choices" in spec:
            value = trial.suggest_categorical(key, spec["choices"])
        elif isinstance(spec["low"], int) and isinstance(spec["high"], int):
            value = trial.suggest_int(key, spec["low"], spec["high"], log=spec.get("log", False))
        else:
            low, high = float(spec["low"]), float(spec["high"])
            value = trial.suggest_float(key, low, high, log=spec.get("log", False))
        out.append(f"{key}={toml_value(value)}")
    return out


# -- the search -----------------------------------------------------------------------------
@dataclass
class TuneJob:
    """Everything a tuning worker needs (it may run in another process)."""

    recipe: str | None
    model: str
    data: str
    epochs: int | None
    overrides: list[str]
    space: dict[str, dict[str, Any]]
    out: str
    url: str
    study: str
    heartbeat: int = HEARTBEAT

    def config(self, extra: list[str]) -> RunConfig:
        return resolve_config(
            self.recipe, self.model, self.data, self.epochs, [*self.overrides, *extra]
        )


def without_test(ds: Dataset) -> Dataset:
    """The dataset with its test split removed: a tuning run cannot read it."""
    return replace(ds, splits={k: v for k, v in ds.splits.items() if k != "test"})


def tune(
    data: str | None,
    model: str | None,
    trials: int,
    out: Path,
    storage: str | None = None,
    study: str | None = None,
    space: str | Path | None = None,
    timeout: float | None = None,
    jobs: int = 1,
    recipe: str | None = None,
    epochs: int | None = None,
    overrides: list[str] | None = None,
    heartbeat: int = HEARTBEAT,
    say: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run `trials` more trials (over `jobs` processes) on the study, then write the outputs
    from every trial the study holds. Returns the best trial's number, value and settings."""
    import optuna

    base = resolve_config(recipe, model, data, epochs, overrides)
    data = data or (base.data if base.data != "synthetic" or recipe else default_data(say))
    job = TuneJob(
        recipe,
        base.model,
        data,
        epochs,
        list(overrides or []),
        load_space(base.model, space),
        str(out),
        storage_url(storage, out),
        study or f"tune-{base.model}",
        heartbeat,
    )
    for key, spec in job.space.items():  # a misspelt field fails now, not in trial 7
        job.config(
            [f"{key}={toml_value(spec['choices'][0] if 'choices' in spec else spec['low'])}"]
        )
    ds = load_data(data, base.preset or None)
    metric, higher = selection_rule(base.train, ds.task.metric_set)
    direction = "maximize" if higher else "minimize"
    storage_obj = open_storage(job.url, heartbeat)
    st = optuna.create_study(
        storage=storage_obj, study_name=job.study, direction=direction, load_if_exists=True
    )
    if st.direction.name.lower() != direction:
        raise UserError(
            f"study '{job.study}' in {masked(job.url)} {st.direction.name.lower()}s; this search "
            f"{direction}s validation {metric}: choose another --study."
        )
    st.set_user_attr("model", job.model)
    st.set_user_attr("metric", metric)
    say(
        f"tuning {job.model} on {ds.source}: {trials} more trial(s) on {jobs} process(es), "
        f"{direction.removesuffix('e')}ing validation {metric} "
        f"(study '{job.study}', {masked(job.url)})"
    )
    shares = [trials // jobs + (i < trials % jobs) for i in range(jobs)]
    if jobs == 1:
        run_worker(job, trials, timeout, 0, ds)
    else:
        data_arg = ds if data == "synthetic" else None
        with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
            futures = [
                pool.submit(run_worker, job, n, timeout, i, data_arg, True)
                for i, n in enumerate(shares)
                if n
            ]
            for f in futures:
                f.result()
    return write_outputs(job, Path(out), say)


def sampler_seed(study: str, n_before: int, worker: int) -> int:
    """The TPE sampler's seed: by the trials already there, so that a resumed study samples
    new points, and by the study's name, so that two studies (of two models) do not start
    from the same random learning rates."""
    return (zlib.crc32(study.encode()) + n_before * 101 + worker) % 2**32


def warmup_epochs(epochs: int) -> int:
    """Epochs a trial runs before the pruner may stop it: the first quarter (at least one).
    The first epochs' validation scores are noise (a fine-tuned text model's especially: two
    validation samples apart at epoch 1), so a median over them prunes at random."""
    return max(1, epochs // 4)


def run_worker(
    job: TuneJob,
    trials: int,
    timeout: float | None,
    worker: int,
    ds: Dataset | None = None,
    one_thread: bool = False,
) -> int:
    """Run `trials` trials of the study in this process; returns how many it ran."""
    import optuna
    import torch

    if one_thread:  # several workers share the machine's cores
        torch.set_num_threads(1)
    if ds is None:
        ds = load_data(job.data, job.config([]).preset or None)
    ds = without_test(ds)
    storage = open_storage(job.url, job.heartbeat)
    n_before = len(storage.get_all_trials(storage.get_study_id_from_name(job.study)))
    study = optuna.load_study(
        study_name=job.study,
        storage=storage,
        sampler=optuna.samplers.TPESampler(
            seed=sampler_seed(job.study, n_before, worker), n_startup_trials=5
        ),
        # epochs are reported from 1; Optuna's earliest pruning step is n_warmup_steps
        pruner=optuna.pruners.MedianPruner(
            n_startup_trials=2, n_warmup_steps=warmup_epochs(job.config([]).train.epochs) + 1
        ),
    )
    name = f"{socket.gethostname()}:{os.getpid()}"

    def objective(trial: optuna.Trial) -> float:
        cfg = job.config(suggest(trial, job.space))
        folder = Path(job.out) / "trials" / f"trial-{trial.number:04d}"
        trial.set_user_attr("worker", name)
        trial.set_user_attr("folder", str(folder))

        def report(epoch: int, score: float) -> None:
            trial.report(score, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"validation {score:.4f} at epoch {epoch}")

        try:
            result = train_run(cfg, ds, folder, on_epoch_end=report, test=False)
        except optuna.TrialPruned:
            # a pruned trial never resumes: its log and best weights stay, its checkpoint
            # (optimisers, replay buffer) goes, as a finished run's does
            shutil.rmtree(folder / CHECKPOINT, ignore_errors=True)
            raise
        metric = result["selection"]["metric"]
        return float(result["valid"]["loss" if metric == "loss" else metric])

    # a diverging trial (NaN loss) fails alone; the search goes on
    study.optimize(objective, n_trials=trials, timeout=timeout, catch=(NonFiniteLoss,))
    return trials


def write_outputs(job: TuneJob, out: Path, say: Callable[[str], None] = print) -> dict[str, Any]:
    """best.toml, trials.csv and the two plots, from every trial the study holds."""
    import optuna

    study = optuna.load_study(study_name=job.study, storage=open_storage(job.url, job.heartbeat))
    trials = study.get_trials(deepcopy=False)
    write_text(out / "trials.csv", trials_csv(trials))
    done = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not done:
        raise UserError(
            f"study '{job.study}' has no completed trial yet ({len(trials)} in all); "
            f"see {out / 'trials.csv'} and the trial folders in {out / 'trials'}."
        )
    best = study.best_trial
    overrides = [f"{k}={toml_value(v)}" for k, v in best.params.items()]
    cfg = job.config(overrides)
    metric = study.user_attrs.get("metric", "the selection metric")
    write_text(
        out / "best.toml",
        cfg.to_toml(
            f"Best of {len(done)} completed trials of study '{job.study}' ({masked(job.url)}):\n"
            f"trial {best.number}, validation {metric} = {best.value:.6g}.\n"
            f"Report it with test metrics: mmcl train --recipe {out / 'best.toml'} --seeds 5"
        ),
    )
    _plots(study, out, len(done), say)
    say(
        f"best trial {best.number}: validation {metric} {best.value:.4f} with "
        f"{', '.join(overrides)}\nwrote {out / 'best.toml'}, {out / 'trials.csv'}"
    )
    return {
        "number": best.number,
        "value": best.value,
        "params": best.params,
        "trials": len(trials),
    }


def trials_csv(trials: list[Any]) -> str:
    names = sorted({k for t in trials for k in t.params})
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(
        ["number", "state", "value", "epochs_reported", "seconds", *names, "worker", "folder"]
    )
    for t in trials:
        seconds = (
            round((t.datetime_complete - t.datetime_start).total_seconds(), 1)
            if t.datetime_complete and t.datetime_start
            else ""
        )
        w.writerow(
            [
                t.number,
                t.state.name,
                "" if t.value is None else t.value,
                len(t.intermediate_values),
                seconds,
                *(t.params.get(k, "") for k in names),
                t.user_attrs.get("worker", ""),
                t.user_attrs.get("folder", ""),
            ]
        )
    return buf.getvalue()


def _plots(study: Any, out: Path, n_done: int, say: Callable[[str], None]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as ovm

    plots = [("optimization-history.png", ovm.plot_optimization_history)]
    if n_done >= 2:
        plots.append(("param-importances.png", ovm.plot_param_importances))
    else:
        say("parameter importances need at least 2 completed trials: not plotted yet")
    for name, plot in plots:
        ax = plot(study)
        fig = ax.figure
        fig.set_size_inches(7, 4.5)
        fig.tight_layout()
        tmp = out / f".{name}.partial.png"
        fig.savefig(tmp, dpi=110)
        plt.close(fig)
        tmp.replace(out / name)
