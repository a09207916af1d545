"""Grid workers sharing one Optuna study: every point once, a dead worker's point redone."""

import json
import time
from collections import Counter

import optuna
import pytest

from mmcl.data.loader import load_data
from mmcl.experiments.grid import Grid, grid_points
from mmcl.experiments.grid_workers import (
    GridJob,
    open_grid_study,
    point_key,
    report_finished,
    run_grid_workers,
)
from mmcl.experiments.runs import train_run
from mmcl.experiments.studies import open_storage
from mmcl.training.trainer import StopTraining

GRID = Grid(models=["late_fusion", "unimodal:text"], seeds=2, epochs=3)
TINY = ["train.batch_size=32"]
# seconds between heartbeats: short, so that a dead worker is found within the test, yet long
# enough that a live worker on a busy 2-core CI machine is not taken for dead (grace is 2x)
BEAT = 2


@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed")
def test_two_workers_finish_the_grid_once_and_redo_a_dead_workers_point(tmp_path):
    out, url = tmp_path / "grid", f"sqlite:///{tmp_path / 'grid.db'}"
    ds = load_data("synthetic")
    _, points = grid_points(GRID, ds, out, "synthetic", TINY)
    keys = [point_key(p) for p in points]
    job = GridJob.of(points, "synthetic", None, url, "g", heartbeat=BEAT)

    # a worker that died mid-run: it took the first point, trained one epoch, then its
    # process (and heartbeat) stopped
    study = open_grid_study(job)
    dead = study.ask()
    dead_key = dead.suggest_categorical("point", keys)
    study._storage.record_heartbeat(dead._trial_id)
    spec, cfg, folder = points[keys.index(dead_key)]

    def die(epoch, score):
        raise StopTraining

    with pytest.raises(StopTraining):
        train_run(cfg, ds, folder, resume=True, on_epoch_end=die)
    assert not (folder / "metrics.json").exists()
    time.sleep(2 * BEAT + 0.5)  # its heartbeat is now older than the grace period

    result = run_grid_workers(
        GRID, ds, out, "synthetic", url, "g", TINY, jobs=2, heartbeat=BEAT, say=lambda _: None
    )

    trials = optuna.load_study(study_name="g", storage=open_storage(url, BEAT)).trials
    states = {t.number: t.state.name for t in trials}
    assert states[dead.number] == "FAIL"  # marked dead, its point queued again
    complete = Counter(t.params["point"] for t in trials if t.state.name == "COMPLETE")
    assert complete == Counter(keys)  # every point completed exactly once
    trained = Counter(t.params["point"] for t in trials if t.user_attrs.get("trained"))
    assert trained == Counter(keys)  # no point trained twice
    for _, _, f in points:
        log = [json.loads(line) for line in (f / "log.jsonl").read_text().splitlines()]
        assert [row["epoch"] for row in log] == list(range(len(log)))  # resumed, not restarted
    # the dead point's folder resumed after its first epoch and finished
    assert json.loads((folder / "metrics.json").read_text())["epochs_run"] >= 1
    assert result is not None and set(result.rows) == set(GRID.models)
    assert (out / "compare.md").is_file()
    # a second invocation finds nothing left to do and adds no trial
    run_grid_workers(
        GRID, ds, out, "synthetic", url, "g", TINY, jobs=1, heartbeat=BEAT, say=lambda _: None
    )
    assert len(optuna.load_study(study_name="g", storage=open_storage(url, BEAT)).trials) == len(
        trials
    )


def test_a_study_of_another_grid_is_refused(tmp_path):
    from mmcl.errors import UserError

    ds = load_data("synthetic")
    url = f"sqlite:///{tmp_path / 'g.db'}"
    for grid, match in ((GRID, None), (Grid(models=["late_fusion"], seeds=1), "another grid")):
        _, points = grid_points(grid, ds, tmp_path / "out", "synthetic", TINY)
        job = GridJob.of(points, "synthetic", None, url, "g")
        if match is None:
            open_grid_study(job)
        else:
            with pytest.raises(UserError, match=match):
                open_grid_study(job)


def test_a_report_lock_from_another_machine_is_named_not_taken_over(tmp_path):
    ds = load_data("synthetic")
    out = tmp_path / "grid"
    cfgs, points = grid_points(GRID, ds, out, "synthetic", TINY)
    _, _, folder = points[0]
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text("{}")  # one finished point: a report is due
    lock = {"pid": 4242, "host": "node-7", "started": "Thu Nov 26 03:00:00 2026"}
    (out / ".report.lock").write_text(json.dumps(lock))
    said = []
    assert report_finished(GRID, ds, out, cfgs, points, said.append) is None
    assert "in use by process 4242 on node-7" in said[-1] and ".report.lock" in said[-1]
    assert (out / ".report.lock").is_file() and not (out / "compare.md").exists()
