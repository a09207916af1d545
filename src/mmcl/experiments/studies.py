"""Optuna studies shared by several processes or machines: storage URLs, heartbeats, and
opening a study with a clear message when the storage cannot be reached.

A study lives in an SQLAlchemy database: an SQLite file (the default, in the output folder;
file locking lets the processes of one machine share it) or a server such as PostgreSQL
(`postgresql://user:password@host/db`) that workers on many machines reach. A worker records a
heartbeat while it works; a trial whose heartbeat stops for `grace` seconds (a killed worker)
is marked failed by the next worker that starts a trial, and queued again.

On SQLite every transaction takes the database's write lock when it begins (`BEGIN
IMMEDIATE`). SQLite ignores `SELECT ... FOR UPDATE`, on which Optuna relies when a worker takes
a queued trial: without the lock two workers could both read the trial as waiting and both
run it (Optuna issues #4002, #4621), here two workers training one run folder at once.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

from mmcl.errors import UserError

# seconds between heartbeats, and the silence after which a running trial counts as dead
HEARTBEAT = 60


def storage_url(storage: str | None, out: Path) -> str:
    """`storage` as an SQLAlchemy URL; None: an SQLite file in `out`; a plain path: an
    SQLite file there."""
    if storage is None:
        Path(out).mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{Path(out).resolve() / 'study.db'}"
    if "://" in storage:
        return storage
    Path(storage).parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{Path(storage).resolve()}"


def masked(url: str) -> str:
    """`url` with its password (if any) as ***: what is printed and stored of a storage URL."""
    return re.sub(r"(://[^/:@]*:)[^/@]*@", r"\1***@", url)


def open_storage(url: str, heartbeat: int = HEARTBEAT) -> Any:
    """An Optuna RDB storage with heartbeats; a dead worker's trial is retried once its
    heartbeat is `2 * heartbeat` seconds old."""
    import optuna
    from optuna.exceptions import ExperimentalWarning

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # the retry callback has been "experimental" since Optuna 2.8 and is what its docs advise
    warnings.filterwarnings("ignore", category=ExperimentalWarning, module="optuna")
    warnings.filterwarnings("ignore", category=ExperimentalWarning, module="mmcl")
    # SQLite: wait for a writer instead of failing at once when two processes write together
    engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    try:
        storage = optuna.storages.RDBStorage(
            url,
            engine_kwargs=engine,
            heartbeat_interval=heartbeat,
            grace_period=2 * heartbeat,
            heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(),
        )
    except Exception as e:  # SQLAlchemy raises many kinds; all mean the same to a user
        said = masked(str(e))
        raise UserError(
            f"--storage {masked(url)}: cannot open the study database ({type(e).__name__}: "
            f"{said}). "
            "Give an SQLite file path or an SQLAlchemy URL such as "
            "postgresql://user:password@host/db (with its driver installed)."
        ) from e
    if url.startswith("sqlite"):
        lock_on_begin(storage.engine)
    return storage


def lock_on_begin(engine: Any) -> None:
    """Make every transaction on the SQLite `engine` begin with `BEGIN IMMEDIATE`."""
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _no_implicit_begin(dbapi_connection: Any, _record: Any) -> None:
        # Python's sqlite3 would otherwise open transactions itself, deferred, at the first
        # write: the read before it would take no lock
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    engine.dispose()  # connections opened before the hooks close; new ones get them
