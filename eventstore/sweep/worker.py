"""One grid point's backtest, as a worker process runs it: the same function for every executor.

With a DuckDB store the worker never opens the database (DuckDB allows one writer): its run goes
to the point's spool directory and the sweep's process loads it. With any other store
(PostgreSQL) the worker opens the store itself and traces into it as ``eventstore run`` does.
Whatever happens inside the backtest, the worker reports an outcome rather than raising: only
the death of its process (reported by the executor) goes unreported. A run whose end the store
could not record (its server went away) is reported ``crashed``, as the store will mark it.
"""

from __future__ import annotations

import os
import signal
from dataclasses import asdict, dataclass
from pathlib import Path

from eventstore.backtest.config import BacktestConfig
from eventstore.backtest.container import BacktestContainer
from eventstore.backtest.feed import ProgressCallback
from eventstore.errors import RunEndNotRecordedError, StoreError
from eventstore.events import Event, EventType
from eventstore.store.spool import SpoolSource, read_json, write_json
from eventstore.tracing.writer import RunStatus

TEST_KILL_ENV = "EVENTSTORE_TEST_KILL_SWEEP_POINT"
"""**Test-only.** ``<grid point index>:<events>`` (e.g. ``3:500``): the worker running that
point flushes its trace and kills itself with SIGKILL once its run holds that many events, so
tests can kill a worker mid-run at a known place. Read once by the sweep's own process, which
passes it to that one point's task; nothing else reads it."""


@dataclass(frozen=True)
class Task:
    """What a worker needs to run one grid point (picklable: it crosses process boundaries)."""

    index: int
    config: BacktestConfig
    spool: Path | None
    """The point's spool directory (DuckDB stores), created by the sweep's process."""
    db_url: str | None = None
    """The store to trace into directly (stores that take many writers)."""
    kill_after_events: int | None = None
    """Test-only: see ``TEST_KILL_ENV``."""


@dataclass(frozen=True)
class TaskOutcome:
    """What a worker reports, or what its executor knows when the worker died."""

    index: int
    status: RunStatus
    run_id: str | None = None
    error: str | None = None
    total_return: float | None = None
    """Final equity over initial cash, minus one; None unless the run completed."""
    trades: int | None = None
    """Fills."""
    events: int | None = None
    worker_pid: int | None = None
    """The process that died running the task, set by its executor: a run it began in a store
    it wrote directly is found there by its ``runs.pid``."""


_OUTCOME = "outcome.json"


def run_task(task: Task, progress: ProgressCallback | None = None) -> TaskOutcome:
    """Run the point's backtest traced; its outcome, never an exception. ``progress`` is
    called every 10 000 bars and at the end; a ``KeyboardInterrupt`` it raises ends the run
    ``interrupted``, as Ctrl-C does.

    A cluster may run a finished task again (Dask recomputes a result that was lost with its
    worker): with a spool, the outcome is kept beside the run, and a second call returns it
    rather than tracing the point twice."""
    if task.spool is not None:
        done = read_json(task.spool / _OUTCOME)
        if done is not None:
            return TaskOutcome(**done)
    outcome = _run(task, progress)
    if task.spool is not None and task.spool.is_dir():
        write_json(task.spool / _OUTCOME, asdict(outcome))
    return outcome


def _run(task: Task, progress: ProgressCallback | None) -> TaskOutcome:
    container: BacktestContainer | None = None
    store = None
    try:
        if task.spool is not None:
            if not task.spool.is_dir():
                raise StoreError(
                    f"the sweep's spool directory {task.spool} is not visible on this worker "
                    f"({os.uname().nodename}): put the database on a filesystem every worker "
                    "shares, or sweep into PostgreSQL (--db postgresql+psycopg://…)"
                )
            container = BacktestContainer(task.config, SpoolSource(task.spool))
        else:
            from eventstore.store import open_store

            assert task.db_url is not None
            store = open_store(task.db_url)
            container = BacktestContainer(task.config, store)
        if task.kill_after_events is not None:
            _arm_test_kill(container, task.kill_after_events)
        result = container.run(progress)
    except KeyboardInterrupt as exc:
        return _ended(task, container, "interrupted", f"KeyboardInterrupt: {exc}")
    except RunEndNotRecordedError as exc:
        # The store lost the run's end (its server went away): it holds the run `running`
        # with no writer, which its next open marks crashed. The sweep says so too.
        lost = f"the store was lost before the run's end was recorded ({exc.reason})"
        return _ended(task, container, "crashed", lost)
    except Exception as exc:
        return _ended(task, container, "failed", f"{type(exc).__name__}: {exc}")
    finally:
        if store is not None:
            store.close()
    return TaskOutcome(
        index=task.index,
        status="completed",
        run_id=result.correlation_id,
        total_return=result.total_return,
        trades=result.fills,
        events=result.event_count,
    )


def _ended(
    task: Task, container: BacktestContainer | None, status: RunStatus, error: str
) -> TaskOutcome:
    run_id = None if container is None else container.correlation_id
    return TaskOutcome(index=task.index, status=status, run_id=run_id, error=error)


def parse_test_kill(value: str | None) -> tuple[int, int] | None:
    """``TEST_KILL_ENV``'s value as (grid point index, events), or None if unset."""
    if not value:
        return None
    index, _, events = value.partition(":")
    try:
        return int(index), int(events)
    except ValueError:
        raise StoreError(f"{TEST_KILL_ENV}={value!r}: expected <point>:<events>") from None


def _arm_test_kill(container: BacktestContainer, events: int) -> None:
    tracer = container.tracer
    assert tracer is not None

    def kill(_: Event) -> None:
        if tracer.event_count >= events:
            tracer.flush()  # what the run committed before it died is then in its segments
            os.kill(os.getpid(), signal.SIGKILL)

    container.bus.subscribe(EventType.BAR, kill)
