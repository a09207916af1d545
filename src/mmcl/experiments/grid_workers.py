"""A grid run by workers that share one Optuna study (`mmcl compare/ablate --storage URL`).

The study's `GridSampler` hands out the grid's points ("<spec folder>/seed-<s>"), so workers
on any number of machines, pointed at one database and one shared output folder, each take
points until none is left. Optuna gives the first N trials of a study the N points in turn; a
later trial can be handed a point another worker is still running (Optuna's documented
behaviour under parallel workers): the lower-numbered running or finished trial owns a point,
and a worker handed someone else's point does not train it and stops, since then every point
has been taken.

A worker records a heartbeat while it trains. One that dies (killed, machine lost) leaves its
trial RUNNING; once the heartbeat is `2 * heartbeat` seconds old, the next worker to start a
trial marks it failed and Optuna queues the point again, so it is redone: the run folder
resumes from its last complete checkpoint, and only run folders with their final metrics
count in the table. Each worker that ends writes the table, paired tests and plot from the
runs finished so far, unless another worker is writing them at that moment.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from mmcl.config import RunConfig
from mmcl.data.dataset import Dataset
from mmcl.data.io import file_lock, read_json
from mmcl.data.loader import load_data
from mmcl.errors import UserError
from mmcl.experiments.defaults import default_data
from mmcl.experiments.grid import Grid, GridResult, Point, grid_points, write_report
from mmcl.experiments.runs import train_run
from mmcl.experiments.studies import HEARTBEAT, masked, open_storage, storage_url
from mmcl.run_folder import METRICS, safe_name

PARAM = "point"
CLAIMED = "claimed_at"  # when a trial took its point (time.time())


def point_key(point: Point) -> str:
    """A point's name in the study: its run folder below the grid's output folder."""
    _, _, folder = point
    return f"{folder.parent.name}/{folder.name}"


@dataclass
class GridJob:
    """What a grid worker needs (it may run in another process)."""

    points: dict[str, tuple[str, dict, str]]  # key -> spec, seeded config dict, run folder
    data: str
    preset: str | None
    url: str
    study: str
    heartbeat: int = HEARTBEAT

    @classmethod
    def of(
        cls,
        points: list[Point],
        data: str,
        preset: str | None,
        url: str,
        study: str,
        heartbeat: int = HEARTBEAT,
    ) -> GridJob:
        """The job of a grid's points (`grid.grid_points`)."""
        named = {point_key(p): (p[0], p[1].to_dict(), str(p[2])) for p in points}
        return cls(named, data, preset, url, study, heartbeat)


def _sampler(keys: list[str]) -> Any:
    import optuna

    return optuna.samplers.GridSampler({PARAM: keys}, seed=0)


def open_grid_study(job: GridJob) -> Any:
    """The grid's study (created if new); refuses a study that runs another grid."""
    import optuna

    keys = list(job.points)
    study = optuna.create_study(
        storage=open_storage(job.url, job.heartbeat),
        study_name=job.study,
        sampler=_sampler(keys),
        load_if_exists=True,
    )
    held = study.user_attrs.get("points")
    if held is None:
        study.set_user_attr("points", keys)
    elif held != keys:
        raise UserError(
            f"study '{job.study}' in {masked(job.url)} runs another grid ({len(held)} points, "
            f"e.g. {held[:2]}); choose another --study for this one."
        )
    return study


def owner(study: Any, trial_number: int, key: str) -> int:
    """The trial that owns point `key`: of the running or finished trials that hold it, the
    first to claim it (`claimed_at`, then the lowest number). Not the lowest number alone:
    trial numbers are given when a trial is created, before it picks its point, so a
    lower-numbered trial can pick a point after a higher-numbered one has checked and
    started it; a claim is written before its check, so of two trials on one point the
    later claimant always sees the earlier one (on one machine's clock)."""
    import optuna

    live = (optuna.trial.TrialState.RUNNING, optuna.trial.TrialState.COMPLETE)
    claims = [
        (t.user_attrs.get(CLAIMED, float("-inf")), t.number)
        for t in study.get_trials(deepcopy=False, states=live)
        if t.params.get(PARAM) == key
        and (CLAIMED in t.user_attrs or t.state == optuna.trial.TrialState.COMPLETE)
    ]
    return min(claims, default=(0.0, trial_number))[1]


def _all_done(study: Any, keys: list[str]) -> bool:
    """Every point has a completed trial and no point waits to be retried."""
    import optuna

    states = optuna.trial.TrialState
    done = {
        t.params.get(PARAM) for t in study.get_trials(deepcopy=False, states=(states.COMPLETE,))
    }
    return set(keys) <= done and not study.get_trials(deepcopy=False, states=(states.WAITING,))


def run_worker(job: GridJob, ds: Dataset | None = None, one_thread: bool = False) -> int:
    """Take grid points until every one has been taken; returns how many this worker trained."""
    import optuna
    import torch

    if one_thread:  # several workers share the machine's cores
        torch.set_num_threads(1)
    if ds is None:
        ds = load_data(job.data, job.preset)
    keys = list(job.points)
    study = optuna.load_study(
        study_name=job.study, storage=open_storage(job.url, job.heartbeat), sampler=_sampler(keys)
    )
    name = f"{socket.gethostname()}:{os.getpid()}"
    trained = 0
    optuna.storages.fail_stale_trials(study)  # a dead worker's point is queued again
    if _all_done(study, keys):
        return 0

    def objective(trial: optuna.Trial) -> float:
        nonlocal trained
        key = trial.suggest_categorical(PARAM, keys)
        trial.set_user_attr("worker", name)
        trial.set_user_attr(CLAIMED, time.time())  # before the check: see `owner`
        first = owner(study, trial.number, key)
        if first != trial.number:
            # every point has been handed out: this one runs elsewhere (or is done)
            trial.set_user_attr("duplicate_of", first)
            study.stop()
            raise optuna.TrialPruned(f"{key} belongs to trial {first}")
        spec, cfg, folder = job.points[key]
        result = train_run(RunConfig.from_dict(cfg), ds, Path(folder), resume=True)
        trial.set_user_attr("trained", True)
        trained += 1
        metric = result["selection"]["metric"]
        return float(result["valid"]["loss" if metric == "loss" else metric])

    study.optimize(objective)
    return trained


def run_grid_on_storage(
    grid: Grid,
    data: str | None,
    out: Path,
    storage: str,
    study: str | None = None,
    preset: str | None = None,
    overrides: list[str] | None = None,
    jobs: int = 1,
    heartbeat: int = HEARTBEAT,
    say: Callable[[str], None] = print,
) -> GridResult | None:
    """`mmcl compare/ablate --storage`: this machine's workers of the grid's shared study on
    the dataset `data` names (None: the default data). Workers share `out`: runs already
    there are part of the grid, not a reason to refuse."""
    data = data or default_data(say)
    ds = load_data(data, preset)
    extra = [f'preset="{preset}"'] if preset else []
    name = study or f"grid-{safe_name(Path(out).resolve().name)}"
    url = storage_url(storage, out)
    return run_grid_workers(
        grid, ds, out, data, url, name, [*extra, *(overrides or [])], preset, jobs, heartbeat, say
    )


def run_grid_workers(
    grid: Grid,
    ds: Dataset,
    out: Path,
    data: str,
    url: str,
    study: str,
    overrides: list[str] | None = None,
    preset: str | None = None,
    jobs: int = 1,
    heartbeat: int = HEARTBEAT,
    say: Callable[[str], None] = print,
) -> GridResult | None:
    """Run `jobs` workers of the grid's shared study here, then write the report from the
    finished runs (None when another worker is writing it)."""
    out = Path(out)
    cfgs, points = grid_points(grid, ds, out, data, overrides)
    job = GridJob.of(points, data, preset, url, study, heartbeat)
    open_grid_study(job)
    say(f"grid worker(s): {jobs} here on study '{study}' ({masked(url)}), {len(points)} points")
    if jobs == 1:
        run_worker(job, ds)
    else:
        data_arg = ds if data == "synthetic" else None
        with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
            for f in [pool.submit(run_worker, job, data_arg, True) for _ in range(jobs)]:
                f.result()
    return report_finished(grid, ds, out, cfgs, points, say)


def report_finished(
    grid: Grid,
    ds: Dataset,
    out: Path,
    cfgs: dict[str, RunConfig],
    points: list[Point],
    say: Callable[[str], None] = print,
) -> GridResult | None:
    """The report from every run folder holding its final metrics (a run cut short does not
    count); skipped, saying so, while another worker writes it."""
    per_run: dict[str, list[dict]] = {spec: [] for spec in cfgs}
    for spec, _, folder in points:
        if (folder / METRICS).is_file():
            per_run[spec].append(read_json(folder / METRICS))
    finished = sum(len(rs) for rs in per_run.values())
    if not finished:
        say("no grid point has finished yet: no report")
        return None
    try:
        with file_lock(out / ".report.lock", out / "compare.md"):
            result = write_report(grid, ds, out, cfgs, per_run)
    except UserError as e:  # the lock is held: another worker is writing the same report
        # a live writer includes these runs; the message names the lock's owner, so that a
        # lock left by a worker killed on another machine (never taken over from here, its
        # process cannot be checked) can be removed by hand
        say(f"report not written by this worker: {e}")
        return None
    if finished < len(points):
        say(
            f"{finished} of {len(points)} points have finished: the report covers those; "
            "it is rewritten when the remaining workers end"
        )
    return result
