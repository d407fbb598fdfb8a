"""The spool: a run written to segment files by a writer with no database, then loaded by the
one process that holds the DuckDB file, is stored exactly as if it had been traced directly;
a run whose worker died before ending it is stored ``crashed`` with the batches it committed."""

from __future__ import annotations

from pathlib import Path

from eventstore import EventTracer, open_store
from eventstore.sweep import run_sweep
from eventstore.sweep.spool import SpoolWriter, load_spooled_runs
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
