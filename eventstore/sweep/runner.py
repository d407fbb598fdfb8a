"""``run_sweep``: one traced backtest per grid point, on worker processes or a Dask cluster,
every run stored in one database.

The sweep's own process is the only one that opens a DuckDB database: workers spool their
runs (``eventstore/store/spool.py``) under ``<database>.sweep/`` and this process loads each
run as soon as its task ends, crashed or not, so a sweep's runs appear as they finish and a
killed worker costs only its own run. A store that takes many writers (PostgreSQL) is written
by the workers directly. Every run is named after the sweep and its point's values
(``trend fast=5 seed=1``) and holds its full config, so ``eventstore runs`` and SQL on
``runs.config`` find them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from rich.console import Console

from eventstore.errors import ConfigError, StoreError, first_line
from eventstore.interrupts import interrupts_deferred, sigterm_interrupts
from eventstore.progress import progress_bar
from eventstore.store import DEFAULT_DB, Store, open_store, without_password
from eventstore.store.persistence import Record
from eventstore.store.spool import LoadedRun, load_spooled_runs, recover_spools, spool_parent
from eventstore.sweep.executors import Executor, check_options, execute
from eventstore.sweep.grid import GridPoint, Sweep, load_sweep
from eventstore.sweep.result import SweepResult, SweepRun, SweepStopped
from eventstore.sweep.worker import TEST_KILL_ENV, Task, TaskOutcome, parse_test_kill


def run_sweep(
    config_path: str | os.PathLike[str],
    workers: int | None = None,
    executor: Executor = "local",
    db: str | os.PathLike[str] = DEFAULT_DB,
    *,
    scheduler: str | None = None,
    progress: bool = False,
    console: Console | None = None,
) -> SweepResult:
    """Run the sweep file at ``config_path`` into ``db``; ``workers`` defaults to the number
    of cores. ``progress`` shows the runs' progress on stderr: a bar on a terminal, else a
    line per finished run (see ``eventstore.progress``)."""
    count = workers if workers is not None else os.cpu_count() or 1
    check_options(executor, count)
    if not isinstance(config_path, str | os.PathLike):
        raise ConfigError(
            f"config_path must be the path of a sweep file, got {type(config_path).__name__}"
        )
    sweep = load_sweep(config_path)
    started = time.perf_counter()
    since = datetime.now(UTC).replace(tzinfo=None)  # as runs.started_at: naive UTC
    runs: dict[int, SweepRun] = {}

    def result() -> SweepResult:
        return SweepResult(
            name=sweep.name,
            db=where,
            executor=executor,
            workers=count,
            labels=sweep.labels,
            runs=[runs[i] for i in sorted(runs)],
            elapsed_s=time.perf_counter() - started,
        )

    # `kill` (or a job scheduler) stops a sweep as Ctrl-C does: workers stopped, their runs
    # `interrupted` and stored, rather than this process dying and leaving them orphaned.
    with sigterm_interrupts(), _open(db) as store:
        where = str(store.path or without_password(store.url))
        direct = store.dialect != "duckdb"
        _check_writable(store, direct)
        with _spool(store, direct) as spool:
            # Workers need the URL as given: ``store.url`` hides its password.
            tasks = _tasks(sweep, spool, os.fspath(db) if direct else None)
            with progress_bar("runs", not progress, console=console, show_after=0) as report:

                def finished(task: Task, outcome: TaskOutcome) -> None:
                    # A run is loaded whole and then counted as stored: Ctrl-C during the
                    # load stops the sweep right after it, never halfway through the run.
                    with interrupts_deferred():
                        if task.spool is None:
                            outcome = _as_stored(store, outcome, task.config.name, since)
                        loaded = _load(store, task, outcome)
                        runs[task.index] = _sweep_run(sweep.points[task.index], outcome, loaded)
                    report(len(runs), len(tasks))
                    done = f"{len(runs)}/{len(tasks)}"
                    report.note(_finished_line(done, sweep.points[task.index], runs[task.index]))

                try:
                    try:
                        execute(tasks, executor, count, finished, scheduler=scheduler)
                    finally:
                        with interrupts_deferred():  # stopped early: store what they spooled
                            for task in tasks:
                                if task.index not in runs and task.spool is not None:
                                    _store_left(store, task, sweep.points[task.index], runs)
                except KeyboardInterrupt as exc:
                    raise SweepStopped(result(), len(tasks), *exc.args) from None
    return result()


def _store_left(store: Store, task: Task, point: GridPoint, runs: dict[int, SweepRun]) -> None:
    """Store what a task the executor did not report on spooled (a sweep stopped while it
    ended): its run as it ended, or ``crashed`` if it never did."""
    stopped = TaskOutcome(index=task.index, status="crashed", error="the sweep was stopped")
    loaded = _load(store, task, stopped)
    if loaded is not None:
        runs[task.index] = _sweep_run(point, stopped, loaded)


def _open(db: str | os.PathLike[str]) -> Store:
    """The store, or a clear error: a server URL whose driver is missing or whose server
    can't be reached fails here, before any worker starts."""
    try:
        return open_store(db)
    except (ImportError, sa.exc.SQLAlchemyError) as exc:
        reason = first_line(exc)
        raise StoreError(
            f"cannot open {without_password(db)} ({reason}): check the URL, install its driver "
            "(PostgreSQL: pip install 'psycopg[binary]') and that the server is running"
        ) from None


def _check_writable(store: Store, direct: bool) -> None:
    """Fail before any worker starts if this store can't take the sweep's runs: a read-only
    one (a Parquet dataset says so and how to import it), or one the workers would trace
    into directly but can't."""
    if not (direct or store.read_only):
        return  # workers spool their runs and this process loads them
    try:
        store.batch_writer().close()
    except StoreError as exc:
        if store.read_only:
            raise  # the store's own reason says what to do instead
        raise StoreError(f"cannot sweep into {without_password(store.url)}: {exc}") from None


@contextmanager
def _spool(store: Store, direct: bool) -> Iterator[Path | None]:
    """This sweep's spool directory beside the database (a temporary one for an in-memory
    database), removed at the end; None when workers write the store directly."""
    if direct:
        yield None
        return
    if store.path is None:
        with tempfile.TemporaryDirectory(prefix="eventstore-sweep-") as scratch:
            yield Path(scratch)
        return
    parent = spool_parent(store.path)
    recover_spools(store, parent)  # open_store did, unless the store was opened before
    spool = parent / f"{datetime.now():%Y%m%d-%H%M%S}-{os.getpid()}"
    spool.mkdir(parents=True)
    try:
        yield spool
    finally:
        shutil.rmtree(spool, ignore_errors=True)
        with contextlib.suppress(OSError):  # not empty: a spool that could not be loaded
            parent.rmdir()


def _tasks(sweep: Sweep, spool: Path | None, db_url: str | None) -> list[Task]:
    kill = parse_test_kill(os.environ.get(TEST_KILL_ENV))
    tasks = []
    for point in sweep.points:
        directory = None if spool is None else spool / f"point-{point.index:05d}"
        if directory is not None:
            directory.mkdir()
        tasks.append(
            Task(
                index=point.index,
                config=point.config,
                spool=directory,
                db_url=db_url,
                kill_after_events=kill[1] if kill and kill[0] == point.index else None,
            )
        )
    return tasks


def _as_stored(
    store: Store, outcome: TaskOutcome, name: str | None, since: datetime
) -> TaskOutcome:
    """A run the worker wrote into the store directly and that did not complete, as the
    store tells it, so the sweep's table never says one thing and the store another. A
    worker that died, or lost the store before recording the run's end (then it reports
    ``crashed``), left its run ``running`` with no writer: the store marks it ``crashed``
    now, as its next open would (runs of live workers hold their locks), and the run's
    status and events are read back. If this process can't reach the store either, a
    ``crashed`` run says so and what the next open will do; a run whose end the worker
    recorded (``failed``, ``interrupted``) keeps the worker's word."""
    if outcome.status == "completed":
        return outcome
    unreachable: tuple[type[BaseException], ...] = (StoreError, *store.driver_errors)
    try:
        store.mark_crashed_runs()
        rows = _stored_run(store, outcome, name, since)
    except unreachable:
        if outcome.status != "crashed":
            return outcome
        return replace(outcome, error=_noted(outcome.error, _UNREACHABLE))
    if not rows:  # its worker died, or failed, before the run began in the store
        return replace(outcome, run_id=None)
    run_id, status, events = rows[0]["run_id"], rows[0]["status"], rows[0]["event_count"]
    if status == "running":  # the server has yet to notice that the writer's session is gone
        error = _noted(outcome.error, _MARKED_NEXT)
        return replace(outcome, run_id=run_id, status="crashed", events=events, error=error)
    error = outcome.error or rows[0]["error"]
    return replace(outcome, run_id=run_id, status=status, events=events, error=error)


def _stored_run(
    store: Store, outcome: TaskOutcome, name: str | None, since: datetime
) -> list[Record]:
    """The run's row: by the id its worker reported, else, for a worker that died before it
    reported one, the newest run of this grid point that the worker's process began (the
    store records each run's pid) since the sweep started."""
    if outcome.run_id is not None:
        return store.fetch_records(
            f"{_STORED_RUN} WHERE run_id = :run_id", {"run_id": outcome.run_id}
        )
    if outcome.worker_pid is None:
        return []
    found = {"name": name, "pid": outcome.worker_pid, "since": since - CLOCK_SKEW}
    return store.fetch_records(_BEGUN_BY, found)


CLOCK_SKEW = timedelta(minutes=1)
"""How far behind the sweep's clock a worker's may be (on another machine) for a run it began
to be found by its pid."""
_STORED_RUN = "SELECT run_id, status, event_count, error FROM runs"
_BEGUN_BY = (
    f"{_STORED_RUN} WHERE name = :name AND pid = :pid AND started_at >= :since "
    "ORDER BY started_at DESC LIMIT 1"
)
_UNREACHABLE = "store unreachable: the next open marks it crashed"
_MARKED_NEXT = "the next open of the store marks it crashed"


def _noted(error: str | None, note: str) -> str:
    return note if not error else f"{error}; {note}"


def _load(store: Store, task: Task, outcome: TaskOutcome) -> LoadedRun | None:
    if task.spool is None:
        return None
    died = outcome.error if outcome.status == "crashed" else None
    loaded = load_spooled_runs(store, task.spool, died=died)
    # Normally one run; a cluster that retried the task leaves more: the one reported wins,
    # else a completed one, else the last.
    ranked = sorted(loaded, key=lambda r: (r.run_id == outcome.run_id, r.status == "completed"))
    return ranked[-1] if ranked else None


def _sweep_run(point: GridPoint, outcome: TaskOutcome, loaded: LoadedRun | None) -> SweepRun:
    """The stored run's status and events when it was spooled (the database's truth), else
    what the worker reported."""
    if loaded is None:
        return SweepRun(
            index=point.index,
            params=point.params,
            run_id=outcome.run_id,
            tag=None if outcome.run_id is None else outcome.run_id.rsplit("-", 1)[-1],
            status=outcome.status,
            total_return=outcome.total_return,
            trades=outcome.trades,
            events=outcome.events,
            error=outcome.error,
        )
    completed = loaded.status == "completed"
    return SweepRun(
        index=point.index,
        params=point.params,
        run_id=loaded.run_id,
        tag=loaded.tag,
        status=loaded.status,
        total_return=outcome.total_return if completed else None,
        trades=outcome.trades if completed else None,
        events=loaded.events,
        error=loaded.error,
    )


def _finished_line(done: str, point: GridPoint, run: SweepRun) -> str:
    """A run's line in a log as it ends: ``run 3/8 completed: 9gv1e5b7jd trend fast=5
    seed=1, 68,100 events``."""
    events = "" if run.events is None else f", {run.events:,} events"
    tag = run.tag or "(not started)"
    return f"run {done} {run.status}: {tag} {point.config.name}{events}"
