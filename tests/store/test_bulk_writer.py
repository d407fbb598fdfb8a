"""The bulk writer against a real DuckDB file: segments loaded in large transactions, end
updates reaching loaded and pending rows, idempotent reloads, and recovery on the next open."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from eventstore import Event, EventTracer, TracedEventBus, open_store
from eventstore.store import duckdb_writer
from eventstore.store.bulk_writer import BulkDuckDBWriter
from eventstore.store.duckdb_writer import DuckDBBatchWriter, run_no_of
from eventstore.store.segment_loader import (
    LOADING_SWITCH_INTERVAL,
    SegmentLoader,
    load_segment,
    prompt_gil_handoffs,
)
from eventstore.store.segments import SegmentWriter, run_segments, segments_root
from eventstore.tracing.writer import InMemoryWriter, TraceBatch


def trace(tracer: EventTracer, bars: int, flush_inside: bool = False) -> None:
    """BARs, each handled by a strategy that publishes two SIGNALs; with ``flush_inside`` it
    flushes between them, so the BAR's batch leaves while it is still being dispatched."""
    bus = TracedEventBus("bulk")

    def strategy(bar: Event) -> None:
        bus.publish(Event("SIGNAL", bar.timestamp, {"n": 1}), source="strategy")
        if flush_inside:
            tracer.flush()
        bus.publish(Event("SIGNAL", bar.timestamp, {"n": 2}), source="strategy")

    bus.subscribe("BAR", strategy)
    bus.set_tracer(tracer)
    for i in range(bars):
        bus.publish(Event("BAR", datetime(2024, 1, 1) + timedelta(minutes=i), {"i": i}), "feed")


def counts(db: Path, run_id: str) -> tuple[int, int, int, int]:
    with open_store(db, read_only=True) as store:
        row = (
            store.cursor()
            .execute(
                "SELECT (SELECT count(DISTINCT seq) FROM events WHERE run_id = $r), "
                "(SELECT count(*) FROM events WHERE run_id = $r), "
                "(SELECT count(*) FROM lineage_edges WHERE run_id = $r), "
                "(SELECT count(*) FROM deliveries WHERE run_id = $r)",
                {"r": run_id},
            )
            .fetchone()
        )
    assert row is not None
    return (int(row[0]), int(row[1]), int(row[2]), int(row[3]))


@pytest.mark.parametrize(
    ("load_rows", "min_load_rows", "loads"),
    [(1, 1, 20), (7, 7, 5), (10**9, 10**9, 1), (10**9, 4, 2)],
)
def test_end_updates_reach_loaded_and_pending_rows(
    tmp_path: Path, load_rows: int, min_load_rows: int, loads: int
) -> None:
    """Each BAR's batch leaves mid-dispatch, so its end_seq arrives in a later batch: loaded
    already (load_rows=1), in the same segment (10**9), or either (7, or whenever the loading
    thread is idle: min_load_rows=4)."""
    db = tmp_path / "runs.duckdb"
    with open_store(db) as store:
        cursor = store.cursor()
        writer = BulkDuckDBWriter(
            cursor, segments_root(db), load_rows=load_rows, min_load_rows=min_load_rows
        )
        with EventTracer(store=writer, batch_size=4, background=False) as tracer:
            trace(tracer, 20, flush_inside=True)
        assert writer.loads >= loads
    assert counts(db, tracer.correlation_id) == (60, 60, 40, 20)
    with open_store(db, read_only=True) as store:
        bars = (
            store.cursor()
            .execute(
                "SELECT seq, end_seq FROM events WHERE run_id = ? AND event_type = 'BAR' "
                "ORDER BY seq",
                [tracer.correlation_id],
            )
            .fetchall()
        )
    assert bars == [(seq, seq + 2) for seq in range(1, 61, 3)]
    assert not segments_root(db).exists()


def test_a_segment_loaded_twice_stores_each_row_once(tmp_path: Path) -> None:
    """Recovery reloads a segment that may be loaded already (a crash between the commit and
    the delete): ``replace`` removes its rows first, deliveries of earlier events included."""
    memory = InMemoryWriter()
    with EventTracer(store=memory, batch_size=4, background=False) as tracer:
        trace(tracer, 10, flush_inside=True)
    batches: list[TraceBatch] = memory.batches
    db = tmp_path / "runs.duckdb"
    with open_store(db) as store:
        cursor = store.cursor()
        writer = BulkDuckDBWriter(cursor, segments_root(db))
        writer.begin_run(memory.runs[tracer.correlation_id])
        run_no = run_no_of(cursor, tracer.correlation_id)
        assert run_no is not None
        segments = SegmentWriter(tmp_path / "elsewhere", tracer.correlation_id)
        half = len(batches) // 2
        for batch in batches[:half]:
            segments.append(batch)
        first = segments.rotate()
        for batch in batches[half:]:
            segments.append(batch)
        second = segments.rotate()
        assert first is not None and second is not None
        # A delivery of an event of the first segment is in the second one.
        assert second.read().deliveries.column("seq")[0].as_py() < second.read().first_seq
        for segment in (first, second, second, first, second):
            load_segment(cursor, run_no, segment, replace=True)
    assert counts(db, tracer.correlation_id) == (30, 30, 20, 10)


def test_leftover_segments_of_an_ended_run_are_loaded_once_and_removed(tmp_path: Path) -> None:
    db = tmp_path / "runs.duckdb"
    with open_store(db) as store:
        writer = BulkDuckDBWriter(store.cursor(), segments_root(db))
        with EventTracer(store=writer, batch_size=6, background=False) as tracer:
            trace(tracer, 10)
            tracer.flush()
            copies = {
                s.path: {f.name: f.read_bytes() for f in s.path.iterdir()}
                for s in run_segments(segments_root(db), tracer.correlation_id)
            }
    assert copies
    # As if the process died after the run's last load and end, before deleting its segment.
    for path, files in copies.items():
        path.mkdir(parents=True)
        for name, data in files.items():
            (path / name).write_bytes(data)
    open_store(db).close()
    assert counts(db, tracer.correlation_id) == (30, 30, 20, 10)
    assert not segments_root(db).exists()


@pytest.mark.parametrize("run_id", ["..", ".", "a/../.."])
def test_a_run_id_of_dots_keeps_the_database_folder_and_is_recovered(
    tmp_path: Path, run_id: str
) -> None:
    """A correlation_id is the name of its run's segment directory: ``..`` once named the
    database's folder, which the end of the run deleted, database and all."""
    db = tmp_path / "runs.duckdb"
    neighbour = tmp_path / "notes.txt"
    neighbour.write_text("mine")
    with open_store(db) as store:
        with EventTracer(store=store, correlation_id="before") as before:
            trace(before, 2)
        with EventTracer(store=store, correlation_id=run_id, batch_size=6) as tracer:
            trace(tracer, 10)
            tracer.flush()
            (segment,) = run_segments(segments_root(db), run_id)
            files = {f.name: f.read_bytes() for f in segment.path.iterdir()}
            assert segment.path.parent.parent == segments_root(db)
    assert neighbour.read_text() == "mine"
    assert counts(db, "before") == (6, 6, 4, 2)
    assert counts(db, run_id) == (30, 30, 20, 10)
    # As if the process died before deleting the segment: the next open finds it by its id.
    segment.path.mkdir(parents=True)
    for name, data in files.items():
        (segment.path / name).write_bytes(data)
    open_store(db).close()
    assert counts(db, run_id) == (30, 30, 20, 10)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "runs.duckdb"]


def test_an_in_memory_store_traces_through_temporary_segments() -> None:
    with open_store(":memory:") as store:
        writer = store.batch_writer()
        assert isinstance(writer, BulkDuckDBWriter)
        root = writer.root
        with EventTracer(store=writer, batch_size=5) as tracer:
            trace(tracer, 10)
        (count,) = store.cursor().execute("SELECT count(*) FROM events").fetchone() or (0,)
    assert count == 30
    assert not root.exists()


def duckdb_table_memory(con: duckdb.DuckDBPyConnection) -> int:
    """Bytes DuckDB's buffer manager holds for table data (cached or not yet checkpointed)."""
    (held,) = con.execute(
        "SELECT coalesce(sum(memory_usage_bytes), 0) FROM duckdb_memory() "
        "WHERE tag IN ('BASE_TABLE', 'IN_MEMORY_TABLE')"
    ).fetchall()[0]
    return int(held)


@pytest.mark.parametrize("loader", [True, False])
def test_the_loading_thread_leaves_no_table_blocks_in_memory(
    tmp_path: Path, loader: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long run must not end up holding DuckDB's whole memory limit in blocks it already
    wrote: after a load the loading thread has DuckDB drop them once they pass a threshold
    (set to nothing here; a load made by hand, with nothing released, keeps megabytes)."""
    monkeypatch.setattr(duckdb_writer, "RELEASE_ABOVE", 0)
    memory = InMemoryWriter()
    with EventTracer(store=memory, batch_size=5_000, background=False) as tracer:
        bus = TracedEventBus("memory")
        bus.set_tracer(tracer)
        for i in range(20_000):
            payload = {"i": i, "note": f"payload {i:08d} " * 8}
            bus.publish(Event("BAR", datetime(2024, 1, 1) + timedelta(seconds=i), payload))
    db = tmp_path / "runs.duckdb"
    with open_store(db) as store:
        writer = DuckDBBatchWriter(store.cursor())
        (run,) = memory.runs.values()
        writer.begin_run(run)  # numbers the run and caps DuckDB's memory, as a run does
        assert writer.run_no is not None
        segments = SegmentWriter(segments_root(db), run.run_id)
        for batch in memory.batches:
            segments.append(batch)
        segment = segments.rotate()
        assert segment is not None
        con = store.cursor()
        if loader:
            thread = SegmentLoader(store.cursor(), writer.run_no, run.run_id)
            thread.submit(segment)
            assert thread.finish() is None and thread.loads == 1
        else:
            load_segment(con, writer.run_no, segment, replace=False)
        held = duckdb_table_memory(con)
        (stored,) = con.execute("SELECT count(*) FROM run_events").fetchall()[0]
        writer.close()
    assert stored == 20_000
    assert held < 1_000_000 if loader else held > 4_000_000, held


def test_loads_lower_the_switch_interval_only_while_they_run(tmp_path: Path) -> None:
    """The loading thread waits for the GIL between DuckDB's tasks: the interval is lowered
    while any load runs (nested loads share it) and put back after the last one, unless the
    program set an interval of its own meanwhile, which then stays."""
    before = sys.getswitchinterval()
    with prompt_gil_handoffs():
        assert sys.getswitchinterval() == pytest.approx(LOADING_SWITCH_INTERVAL)
        with prompt_gil_handoffs():
            pass
        assert sys.getswitchinterval() == pytest.approx(LOADING_SWITCH_INTERVAL)
    assert sys.getswitchinterval() == before
    with prompt_gil_handoffs():
        sys.setswitchinterval(0.01)
    assert sys.getswitchinterval() == pytest.approx(0.01)
    sys.setswitchinterval(before)

    with open_store(tmp_path / "runs.duckdb") as store:
        with EventTracer(store=store, batch_size=1_000) as tracer:
            bus = TracedEventBus("loads")
            bus.set_tracer(tracer)
            for i in range(5_000):
                bus.publish(Event("BAR", datetime(2024, 1, 1) + timedelta(seconds=i), {"i": i}))
        assert sys.getswitchinterval() == before
        (stored,) = store.cursor().execute("SELECT count(*) FROM events").fetchall()[0]
    assert stored == 5_000
