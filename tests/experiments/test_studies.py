"""Studies shared through SQLite: a queued trial goes to exactly one of several processes."""

from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import optuna

from mmcl.experiments.studies import open_storage


def _take_queued(url: str) -> list[int]:
    """Every queued trial this process manages to take (as a worker starting a trial does)."""
    study = optuna.load_study(study_name="s", storage=open_storage(url))
    taken = []
    while (trial_id := study._pop_waiting_trial_id()) is not None:
        taken.append(trial_id)
    return taken


def test_each_queued_trial_is_taken_by_one_process_only(tmp_path):
    # without a lock at the start of each transaction, three processes popping 60 queued
    # trials took 3 to 9 of them twice in every one of three ad-hoc runs (2026-11-26)
    url = f"sqlite:///{tmp_path / 'queue.db'}"
    study = optuna.create_study(study_name="s", storage=open_storage(url))
    for x in range(60):
        study.enqueue_trial({"x": x})
    with ProcessPoolExecutor(3, mp_context=get_context("spawn")) as pool:
        taken = [t for f in [pool.submit(_take_queued, url) for _ in range(3)] for t in f.result()]
    assert sorted(taken) == sorted(t._trial_id for t in study.trials)  # each exactly once
