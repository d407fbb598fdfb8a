"""A sweep into PostgreSQL whose store is lost in the middle of a run: the sweep's table and its
``SweepResult`` say what the store says (or, unreachable, what its next open will say) about
that run: ``crashed``, not ``failed``.

The run is caught mid-write without sleeps: the test holds a SHARE lock on ``run_events``, so
the worker's first ``COPY`` of events waits for it; the test sees that backend waiting in
``pg_stat_activity``, terminates it (the server dropping the connection), then lets go."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from eventstore import open_store
from eventstore.sweep import SweepResult, run_sweep
from eventstore.sweep.worker import TEST_KILL_ENV

from .conftest import SWEEP

DEADLINE = 120.0
"""Seconds to wait for the worker to reach its first write (only turns a hang into a failure)."""

_BLOCKED = (
    "SELECT pid FROM pg_stat_activity "
    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
)


_TEST = "store-lost-test"
"""The application name of this test's own sessions, which it never terminates."""


def _conninfo(url: str) -> str:
    return sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
def one_point_sweep(tmp_path: Path) -> Path:
    path = tmp_path / "sweep.yaml"
    sweep = {"name": "lost", "backtest": SWEEP["backtest"], "grid": {"seed": [1]}}
    path.write_text(yaml.safe_dump(sweep, sort_keys=False), encoding="utf-8")
    return path


@contextmanager
def _writes_held(pg_url: str) -> Iterator[Any]:
    """Hold run_events against writes (reads go on) until the block ends or the holding
    session is terminated; yield an autocommit connection to watch and terminate sessions
    with. The store's tables exist first (a sweep would create them)."""
    import psycopg

    open_store(pg_url).close()
    with (
        psycopg.connect(_conninfo(pg_url)) as locker,
        psycopg.connect(_conninfo(pg_url), autocommit=True, application_name=_TEST) as watcher,
    ):
        locker.execute("LOCK TABLE run_events IN SHARE MODE")
        yield watcher
        with contextlib.suppress(psycopg.OperationalError):  # terminated: the lock went with it
            locker.rollback()


def _blocked_writers(watcher: Any, alive: Callable[[], bool]) -> list[int]:
    """The sessions waiting for the lock: the worker's, once its run has begun and writes."""
    deadline = time.monotonic() + DEADLINE
    while not (pids := [pid for (pid,) in watcher.execute(_BLOCKED)]):
        assert alive(), "the sweep ended before its run wrote anything"
        assert time.monotonic() < deadline, "the run never reached its first write"
        time.sleep(0.01)
    return pids


def _stored(pg_url: str) -> dict[str, tuple[str, int]]:
    """run_id → (status, event_count), read by an open of the store (which marks dead runs)."""
    with open_store(pg_url, read_only=True) as store:
        rows = store.fetch_records("SELECT run_id, status, event_count FROM runs")
    return {row["run_id"]: (row["status"], row["event_count"]) for row in rows}


def _sweep_in_thread(sweep_file: Path, pg_url: str) -> tuple[threading.Thread, dict[str, Any]]:
    done: dict[str, Any] = {}

    def sweep() -> None:
        try:
            done["result"] = run_sweep(sweep_file, workers=1, db=pg_url)
        except BaseException as exc:
            done["error"] = exc

    thread = threading.Thread(target=sweep)
    thread.start()
    return thread, done


def _result(thread: threading.Thread, done: dict[str, Any]) -> SweepResult:
    thread.join(DEADLINE)
    assert not thread.is_alive()
    result = done.get("result")
    assert isinstance(result, SweepResult), done
    return result


@contextmanager
def _unreachable(pg_server: str, database: str, spare: list[int] | None = None) -> Iterator[None]:
    """The server takes no new connections to ``database`` and drops the ones it has but the
    watcher's and ``spare``, until the block ends."""
    import psycopg

    with psycopg.connect(_conninfo(pg_server), autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
        try:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                "AND application_name <> %s AND NOT pid = ANY(%s::int[])",
                [database, _TEST, spare or []],
            )
            yield
        finally:
            admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')


def test_a_connection_lost_mid_run_is_crashed_in_the_sweep_as_in_the_store(
    one_point_sweep: Path, pg_url: str
) -> None:
    with _writes_held(pg_url) as watcher:
        thread, done = _sweep_in_thread(one_point_sweep, pg_url)
        pids = _blocked_writers(watcher, thread.is_alive)
        watcher.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", [pids])
    result = _result(thread, done)

    [run] = result.runs
    assert run.status == "crashed"
    assert run.error is not None and "the store was lost" in run.error
    assert result.table().column("status").to_pylist() == ["crashed"]
    # Marked by the sweep already (a bare read, which marks nothing, sees it), and an open
    # of the store says the same.
    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:
        status = conn.execute(sa.text("SELECT run_id, status FROM runs")).all()
    engine.dispose()
    assert status == [(run.run_id, "crashed")]
    assert _stored(pg_url) == {run.run_id: ("crashed", run.events)}


def test_a_worker_killed_while_the_store_is_unreachable_is_crashed_not_an_error(
    one_point_sweep: Path, pg_url: str, pg_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker flushes and kills itself once its run holds 100 events. Its flush waits
    for the held lock; meanwhile the store becomes unreachable for everyone else (the sweep's
    process too) and the lock is let go: the flush ends, the worker dies. The sweep can't ask
    the store about the run: it says crashed, as the store's next open does."""
    monkeypatch.setenv(TEST_KILL_ENV, "0:100")
    database = sa.make_url(pg_url).database
    assert database is not None
    with _writes_held(pg_url) as watcher:
        thread, done = _sweep_in_thread(one_point_sweep, pg_url)
        writers = _blocked_writers(watcher, thread.is_alive)
        with _unreachable(pg_server, database, spare=writers):  # the lock's holder goes too
            result = _result(thread, done)

    [run] = result.runs
    assert run.status == "crashed"
    assert run.error == (
        "its worker process was killed by signal SIGKILL; "
        "store unreachable: the next open marks it crashed"
    )
    assert [status for status, _ in _stored(pg_url).values()] == ["crashed"]


def test_a_store_unreachable_after_the_loss_is_reported_crashed_in_one_line(
    one_point_sweep: Path, pg_url: str, pg_server: str
) -> None:
    # The URL's own password, else one a server with trust authentication does not check.
    password = sa.make_url(pg_url).password or "s3cret-pw"
    url = sa.make_url(pg_url).set(password=password)
    database = url.database
    assert database is not None
    argv = [sys.executable, "-m", "eventstore", "sweep", "-c", str(one_point_sweep), "-w", "1"]
    shown = url.render_as_string(hide_password=False)
    with _writes_held(pg_url) as watcher:
        sweep = subprocess.Popen(
            [*argv, "--db", shown, "--quiet"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "COLUMNS": "80"},
        )
        try:
            _blocked_writers(watcher, lambda: sweep.poll() is None)
            with _unreachable(pg_server, database):
                out, err = sweep.communicate(timeout=DEADLINE)
        finally:
            if sweep.poll() is None:
                sweep.kill()
                sweep.communicate()

    assert sweep.returncode == 1, (out, err)
    assert "1 of 1 runs did not complete" in err
    assert "Traceback" not in out + err and password not in out + err
    rows = [line.split() for line in out.splitlines() if re.fullmatch(r"\w{10} +\w+", line)]
    assert [status for _, status in rows] == ["crashed"], out  # no return, trades or events
    tag = rows[0][0]
    # The note, one line wrapped to the terminal: why, and what the store will say.
    note = " ".join(out[out.index(f"run {tag}: crashed: ") :].split("\n\n")[0].split())
    assert note == (
        f"run {tag}: crashed: the store was lost before the run's end was recorded "
        "(the connection is lost); store unreachable: the next open marks it crashed"
    )
    [(run_id, (status, _))] = _stored(pg_url).items()
    assert run_id.endswith(tag) and status == "crashed"
