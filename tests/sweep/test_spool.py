"""The spool: a run written to segment files by a writer with no database, then loaded by the
one process that holds the DuckDB file, is stored exactly as if it had been traced directly;
a run whose worker died before ending it is stored ``crashed`` with the batches it committed."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from eventstore import EventTracer, open_store
from eventstore.cli import app
from eventstore.store.spool import SpoolWriter, load_spooled_runs
from eventstore.sweep import run_sweep
from eventstore.tracing.writer import InMemoryWriter

from ..store.test_bulk_writer import trace

_ROWS = """
SELECT e.seq, e.event_type, e.sim_time, e.source, e.root_seq, e.end_seq, e.payload,
       (SELECT count(*) FROM lineage_edges AS l WHERE l.child_id = e.event_id) AS parents,
       (SELECT count(*) FROM deliveries AS d WHERE d.event_id = e.event_id) AS deliveries
FROM events AS e WHERE e.run_id = ? ORDER BY e.seq
"""


def _rows(db: Path, run_id: str) -> list[tuple[object, ...]]:
    with open_store(db, read_only=True) as store:
        return store.cursor().execute(_ROWS, [run_id]).fetchall()


def test_a_spooled_run_is_stored_as_if_traced_directly(tmp_path: Path) -> None:
    direct_db, spooled_db = tmp_path / "direct.duckdb", tmp_path / "spooled.duckdb"
    with open_store(direct_db) as store, EventTracer(store=store, batch_size=4) as direct:
        trace(direct, 30, flush_inside=True)
    spool = tmp_path / "point"
    spool.mkdir()
    # Small segments and batches that leave mid-dispatch: end updates cross segments.
    writer = SpoolWriter(spool, rotate_rows=7)
    with EventTracer(store=writer, batch_size=4, background=False) as spooled:
        trace(spooled, 30, flush_inside=True)
    assert len(list((spool / spooled.correlation_id).iterdir())) > 3  # segments + JSON

    with open_store(spooled_db) as store:
        [loaded] = load_spooled_runs(store, spool)
    assert (loaded.run_id, loaded.status, loaded.events) == (
        spooled.correlation_id,
        "completed",
        90,
    )
    assert _rows(spooled_db, spooled.correlation_id) == _rows(direct_db, direct.correlation_id)
    assert not spool.exists()
    with open_store(spooled_db, read_only=True) as store:
        row = (
            store.cursor()
            .execute("SELECT status, event_count, ended_at >= started_at FROM runs")
            .fetchone()
        )
    assert row == ("completed", 90, True)


def test_a_run_left_without_an_end_is_stored_crashed_with_what_it_committed(
    tmp_path: Path,
) -> None:
    memory = InMemoryWriter()
    with EventTracer(store=memory, batch_size=5, background=False) as tracer:
        trace(tracer, 10)
    [info] = memory.runs.values()
    spool = tmp_path / "point"
    spool.mkdir()
    writer = SpoolWriter(spool)
    writer.begin_run(info)
    for batch in memory.batches[:3]:  # then the worker dies: no end_run
        writer.write_batch(batch)
    writer.close()
    committed = sum(batch.num_events for batch in memory.batches[:3])

    db = tmp_path / "runs.duckdb"
    with open_store(db) as store:
        [loaded] = load_spooled_runs(store, spool, died="killed by signal SIGKILL")
    assert (loaded.status, loaded.events, loaded.error) == (
        "crashed",
        committed,
        "killed by signal SIGKILL",
    )
    with open_store(db, read_only=True) as store:
        row = (
            store.cursor()
            .execute("SELECT status, event_count, (SELECT count(*) FROM events) FROM runs")
            .fetchone()
        )
    assert row == ("crashed", committed, committed)


def test_a_sweep_loads_what_an_earlier_sweep_left_behind(sweep_file: Path, tmp_path: Path) -> None:
    """The sweep's own process died before loading a finished run: the next sweep into the
    database stores it."""
    db = tmp_path / "runs.duckdb"
    orphan = tmp_path / "runs.duckdb.sweep" / "20240102-093000-99999" / "point-00000"
    orphan.mkdir(parents=True)
    with EventTracer(store=SpoolWriter(orphan), name="orphan") as tracer:
        trace(tracer, 5)
    result = run_sweep(sweep_file, workers=1, db=db)
    assert result.count("completed") == 8
    with open_store(db, read_only=True) as store:
        rows = (
            store.cursor()
            .execute(
                "SELECT status, event_count FROM runs WHERE run_id = ?", [tracer.correlation_id]
            )
            .fetchall()
        )
    assert rows == [("completed", 15)]
    assert not (tmp_path / "runs.duckdb.sweep").exists()


def test_any_open_stores_what_a_dead_sweep_left_behind(tmp_path: Path) -> None:
    """The sweep's process was killed (the OOM killer) after a worker finished a run: the
    first look at the database (`eventstore runs`, a read-only open) shows the run, rather
    than a store that seems to have lost it until the next sweep."""
    db = tmp_path / "runs.duckdb"
    open_store(db).close()
    orphan = tmp_path / "runs.duckdb.sweep" / "20240102-093000-99999" / "point-00000"
    orphan.mkdir(parents=True)
    with EventTracer(store=SpoolWriter(orphan), name="orphan") as tracer:
        trace(tracer, 5)

    result = CliRunner().invoke(app, ["runs", "--db", str(db), "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert f"{tracer.correlation_id},orphan,completed" in result.stdout
    with open_store(db, read_only=True) as store:
        row = store.cursor().execute("SELECT count(*) FROM events").fetchone()
    assert row == (15,)
    assert not (tmp_path / "runs.duckdb.sweep").exists()


_DIE_MID_LOAD = """
import os, signal, sys
from pathlib import Path
from eventstore import open_store
from eventstore.store.duckdb_writer import DuckDBBatchWriter
from eventstore.store.segment_loader import load_segment
from eventstore.store.segments import run_segments
from eventstore.store.spool import read_json
from eventstore.tracing.writer import RunInfo
from datetime import datetime

db, spooled, run_id = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
store = open_store(db)  # the sweep holds the database, then spools under its pid
point = db.with_name(db.name + ".sweep") / f"20240102-093000-{os.getpid()}" / "point-00000"
point.parent.mkdir(parents=True)
spooled.rename(point)
info = read_json(point / run_id / "run.json")
info["started_at"] = datetime.fromisoformat(info["started_at"])
writer = DuckDBBatchWriter(store.cursor())
writer.begin_run(RunInfo(**info))
load_segment(store.cursor(), writer.run_no, run_segments(point, run_id)[0], replace=False)
os.kill(os.getpid(), signal.SIGKILL)  # the sweep's process dies while loading the run
"""


def test_a_load_the_sweeps_death_cut_short_is_done_again(tmp_path: Path) -> None:
    """The sweep's process was killed while it loaded a finished run: the run's row and
    first segment are in the database, the spool is whole. The next open stores the run
    whole, once, instead of refusing it as already stored (which failed every open)."""
    db = tmp_path / "runs.duckdb"
    point = tmp_path / "point-00000"
    point.mkdir()
    with EventTracer(store=SpoolWriter(point, rotate_rows=7), batch_size=4, name="o") as tracer:
        trace(tracer, 10, flush_inside=True)
    killed = subprocess.run(
        [sys.executable, "-c", _DIE_MID_LOAD, str(db), str(point), tracer.correlation_id],
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL

    result = CliRunner().invoke(app, ["runs", "--db", str(db), "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert f"{tracer.correlation_id},o,completed" in result.stdout
    with open_store(db, read_only=True) as store:
        rows = store.cursor().execute("SELECT count(*), count(DISTINCT seq) FROM events")
        assert rows.fetchone() == (30, 30)
    assert not (tmp_path / "runs.duckdb.sweep").exists()


_STILL_TRACING = """
import sys, time
from datetime import datetime
from pathlib import Path
from eventstore import Event, EventTracer
from eventstore.store.spool import SpoolWriter

with EventTracer(store=SpoolWriter(Path(sys.argv[1])), batch_size=2, name="live") as tracer:
    for minute in range(4):
        tracer.recorder.end(tracer.recorder.begin(Event("TICK", datetime(2024, 1, 2)), "feed"))
    tracer.flush()
    print(tracer.correlation_id, flush=True)
    sys.stdin.readline()  # the worker goes on tracing after its sweep died
"""


def test_an_open_leaves_a_run_whose_worker_still_traces(tmp_path: Path) -> None:
    """A worker outlives its killed sweep and goes on writing its spool: an open meanwhile
    must not store its run crashed and delete the files under it; a later open stores it."""
    db = tmp_path / "runs.duckdb"
    point = tmp_path / "runs.duckdb.sweep" / "20240102-093000-99999" / "point-00000"
    point.mkdir(parents=True)
    worker = subprocess.Popen(
        [sys.executable, "-c", _STILL_TRACING, str(point)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert worker.stdout is not None and worker.stdin is not None
    run_id = worker.stdout.readline().strip()

    with open_store(db) as store:
        assert store.cursor().execute("SELECT count(*) FROM runs").fetchone() == (0,)
    assert (point / run_id / "run.json").is_file()

    worker.stdin.write("\n")
    worker.stdin.close()
    assert worker.wait() == 0
    with open_store(db, read_only=True) as store:
        row = store.cursor().execute("SELECT run_id, status, event_count FROM runs").fetchone()
    assert row == (run_id, "completed", 4)
