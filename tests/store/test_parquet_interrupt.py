"""Ctrl-C at a terminal while a real ``eventstore import`` loads a run into a DuckDB file:
DuckDB turns the SIGINT that reaches a running query into ``RuntimeError: Query
interrupted``, which once ended the import with a traceback. The import stops with exit code
130 and no traceback, the run being loaded is left out whole, and importing again loads it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from eventstore import Event, EventTracer, TracedEventBus, open_store
from eventstore.store.dataset import run_file
from eventstore.store.parquet import export_runs

BIG_RUN_EVENTS = 300_000
"""Enough events (and deliveries) that loading the second run takes a good while, so Ctrl-C
lands inside the load."""
DEADLINE = 60.0
"""Seconds to wait for the import to reach a state (only turns a hang into a failure)."""


def _trace(store_path: Path, name: str, events: int) -> str:
    with open_store(store_path) as store, EventTracer(store=store, name=name) as tracer:
        bus = TracedEventBus(name)
        for handler in range(3):  # deliveries: the bulk of what an import loads
            bus.subscribe("TICK", lambda event, n=handler: None)
        bus.set_tracer(tracer)
        start = datetime(2024, 1, 2)
        for i in range(events):
            bus.publish(Event("TICK", start + timedelta(seconds=i), {"i": i, "price": 1.5}))
    return tracer.correlation_id


def _counts(db: Path) -> dict[str, int]:
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("SELECT run_id, count(*) FROM events GROUP BY run_id").fetchall()
    return {str(run_id): int(n) for run_id, n in rows}


@dataclass
class Source:
    """A DuckDB store holding a small run, then a big one."""

    db: Path
    small: str
    big: str


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Source:
    db = tmp_path_factory.mktemp("interrupt") / "source.duckdb"
    small = _trace(db, "small", 10)
    return Source(db, small, _trace(db, "big", BIG_RUN_EVENTS))


def _start(*args: str) -> subprocess.Popen[str]:
    """A real ``eventstore`` command in a process group of its own (a terminal's foreground
    job, which Ctrl-C reaches whole), with Ctrl-C's default action even under a test runner
    that ignores it, and a progress line at every step."""
    return subprocess.Popen(
        [sys.executable, "-m", "eventstore", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "80", "EVENTSTORE_PROGRESS_INTERVAL": "0"},
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _ctrl_c_once(command: subprocess.Popen[str], started: Callable[[], bool]) -> str:
    """Ctrl-C as soon as ``started()``; the command's stderr once it has ended."""
    deadline = time.monotonic() + DEADLINE
    while not started() and command.poll() is None:
        assert time.monotonic() < deadline, "the command never got there"
        time.sleep(0.001)
    os.killpg(command.pid, signal.SIGINT)
    _, errors = command.communicate(timeout=DEADLINE)
    return errors


def test_ctrl_c_during_an_import_leaves_the_run_being_loaded_out_whole(
    source: Source, tmp_path: Path
) -> None:
    export_runs(source.db, tmp_path / "lake")
    target = tmp_path / "team.duckdb"
    importing = _start("import", str(tmp_path / "lake"), "--db", str(target))
    assert importing.stderr is not None
    said = []
    for line in importing.stderr:  # a line per loaded run
        said.append(line)
        if line.startswith("runs: 1/2"):
            break
    # The big run's rows reach the file before their commit: its growth says the load runs.
    loaded = target.stat().st_size
    errors = "".join(said) + _ctrl_c_once(importing, lambda: target.stat().st_size > loaded)
    assert importing.returncode == 130, errors
    assert "Traceback" not in errors and "Query interrupted" not in errors
    assert _counts(target) == {source.small: 10}  # nothing of the big run

    again = _start("import", str(tmp_path / "lake"), "--db", str(target), "-q")
    assert again.wait(timeout=DEADLINE) == 0, again.communicate()
    assert _counts(target) == {source.small: 10, source.big: BIG_RUN_EVENTS}


def test_ctrl_c_during_an_export_leaves_no_half_written_file(
    source: Source, tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    exporting = _start("export", "--all", "--parquet", str(lake), "--db", str(source.db))
    writing = run_file(lake, "deliveries", source.big).with_name(".part-0.parquet.tmp")
    errors = _ctrl_c_once(exporting, writing.exists)
    assert exporting.returncode == 130, errors
    assert "Traceback" not in errors and "Query interrupted" not in errors
    assert not [p for p in lake.rglob("*") if p.name.endswith(".tmp")]
    with open_store(lake) as dataset:
        shown = dataset.fetch_records("SELECT run_id FROM runs", {})
    assert shown == [{"run_id": source.small}]  # the big run's files are not all there
