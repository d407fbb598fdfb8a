"""DuckDB's spill folder (``<db>.tmp``) that a killed process leaves beside a store is removed
by the next read-write open, unless something in it may still be in use."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from eventstore import open_store

KILLED_WHILE_TRACING = """
import os, signal, sys
from datetime import datetime
from eventstore import Event, EventTracer, TracedEventBus, open_store
path = sys.argv[1]
store = open_store(path)
tracer = EventTracer(store=store, batch_size=10, background=False).start()
bus = TracedEventBus("b"); bus.set_tracer(tracer)
for i in range(25):
    bus.publish(Event("BAR", datetime(2024, 1, 2), {"i": i}))
cursor = store.cursor()
cursor.execute("SET memory_limit = '16MB'")  # an 80 MB table spills, as a long run's loads do
cursor.execute("CREATE TEMP TABLE t AS SELECT range AS i, repeat('x', 200) AS s FROM range(400000)")
print(" ".join(sorted(os.listdir(path + ".tmp"))), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def spill(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".tmp")


@pytest.mark.parametrize("collected", [True, False], ids=["collected", "zombie"])
def test_the_spill_folder_of_a_killed_traced_run_is_removed_on_the_next_open(
    db_path: Path, collected: bool
) -> None:
    """Also while the killed process is a zombie (its parent has not collected it yet): it
    still answers kill(pid, 0), but holds nothing."""
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_WHILE_TRACING, str(db_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        spilled = child.stdout.readline().split()
        if collected:
            child.wait()
        else:  # wait until it has died, but leave it uncollected
            os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)
        assert sorted(p.name for p in spill(db_path).iterdir()) == spilled != []
        with open_store(db_path) as store:
            assert not spill(db_path).exists()
            rows = store.cursor().execute("SELECT status, event_count FROM runs").fetchall()
        assert rows == [("crashed", 20)]  # the crashed run recovered as before
    finally:
        _, stderr = child.communicate()
    assert child.returncode == -9, stderr


@pytest.fixture
def live_pid() -> Iterator[int]:
    """The id of a process that runs until the test ends."""
    process = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    try:
        yield process.pid
    finally:
        process.communicate(b"")


def test_a_folder_that_may_be_in_use_is_left_alone(db_path: Path, live_pid: int) -> None:
    open_store(db_path).close()
    folder = spill(db_path)
    folder.mkdir()
    in_use = folder / f"duckdb_temp_{live_pid}_0_storage_DEFAULT-0.tmp"
    in_use.write_bytes(b"blocks")
    open_store(db_path).close()
    assert in_use.read_bytes() == b"blocks"
    in_use.unlink()
    mine = folder / "notes.txt"  # not a file DuckDB names: somebody's own
    mine.write_text("keep me\n")
    open_store(db_path).close()
    assert mine.read_text() == "keep me\n"


def test_an_empty_spill_folder_is_removed_and_readers_leave_it(db_path: Path) -> None:
    open_store(db_path).close()
    spill(db_path).mkdir()
    open_store(db_path, read_only=True).close()  # a reader changes nothing beside the file
    assert spill(db_path).is_dir()
    open_store(db_path).close()
    assert not spill(db_path).exists()
