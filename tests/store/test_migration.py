"""Revision 0002: a store the 0001 release wrote upgrades in place with every row and id kept,
downgrades back, and the library and the CLI do it for the user."""

from __future__ import annotations

import logging
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from eventstore import Event, EventTracer, SchemaVersionError, TracedEventBus, open_store, queries
from eventstore.cli import app
from eventstore.store.schema import SCHEMA_REVISION, metadata
from eventstore.tracing.writer import InMemoryWriter
from tests.store.release_0001 import ROOT, Release0001Writer, create_0001_store
from tests.store.test_run_roundtrip import Truth, run_tree_backtest

# Every 0001 column, in a stable order: what users' SQL could read before the upgrade.
SNAPSHOTS = {
    "runs": "SELECT run_id, tag, name, status, started_at, ended_at, config, error, event_count, "
    "dropped_count, unencodable_count, lineage_exact, sampling, library_version, host, pid "
    "FROM runs ORDER BY run_id",
    "events": "SELECT run_id, seq, event_id, event_type, sim_time, source, causation_id, "
    "root_seq, end_seq, created_ns, emitted_ns, payload, partition_key, version "
    "FROM events ORDER BY run_id, seq",
    "lineage_edges": "SELECT run_id, parent_id, child_id, kind, parent_seq, child_seq "
    "FROM lineage_edges ORDER BY run_id, child_seq, parent_seq, kind",
    "deliveries": "SELECT run_id, event_id, seq, handler, received_ns, processed_ns, error "
    "FROM deliveries ORDER BY run_id, seq, handler, received_ns",
}


def snapshot(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {name: con.execute(sql).fetchall() for name, sql in SNAPSHOTS.items()}
    finally:
        con.close()


def query(path: Path, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def alembic(path: Path, *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "alembic", "-x", f"db={path}", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def réagir(event: Event) -> None:
    """A handler whose name is not ASCII."""


def trace_release_runs(path: Path) -> None:
    """Three runs as the release wrote them: a backtest tree (explicit parents, a handler
    that always raises, batches of 7 so end bounds arrive as updates), a run whose names are
    not ASCII, and a run that never ended. Traced in memory, then written run by run with the
    release's writer."""
    traced = InMemoryWriter()
    bus = TracedEventBus("main", on_handler_error="log")
    with EventTracer(store=traced, batch_size=7, background=False, name="tree") as tracer:
        bus.set_tracer(tracer)
        run_tree_backtest(bus, Truth(), bars=6)

    bus = TracedEventBus("ünïcode", on_handler_error="log")
    bus.subscribe("ÉVÉNEMENT-ü", réagir)
    with EventTracer(store=traced, background=False, name="essai ☃") as tracer:
        bus.set_tracer(tracer)
        for n in range(5):
            event = Event("ÉVÉNEMENT-ü", datetime(2024, 5, 6, 7, n), {"texte": "Ωμέγα ✓", "n": n})
            bus.publish(event, "Stratégie-β")

    with EventTracer(store=traced, batch_size=3, background=False, name="crashed") as tracer:
        bus = TracedEventBus("left")
        bus.set_tracer(tracer)
        for n in range(4):
            bus.publish(Event("BAR", datetime(2024, 1, 2), {"n": n}), "Feed")
    crashed = tracer.correlation_id

    writer = Release0001Writer(path)
    try:
        for run_id, run in traced.runs.items():
            writer.begin_run(run)
            for batch in traced.batches:
                if batch.run_id == run_id:
                    writer.write_batch(batch)
            if run_id != crashed:  # as if its process died before the run ended
                writer.end_run(run_id, *traced.endings[run_id])
    finally:
        writer.close()


@pytest.fixture
def release_store(tmp_path: Path) -> Path:
    path = tmp_path / "release.duckdb"
    create_0001_store(path)
    trace_release_runs(path)
    return path


def test_the_release_store_holds_what_the_test_needs(release_store: Path) -> None:
    before = snapshot(release_store)
    assert len(before["runs"]) == 3
    assert any(kind == "priced_by" for *_, kind, _, _ in before["lineage_edges"])
    assert any(error is not None for *_, error in before["deliveries"])
    assert any(row[3] == "ÉVÉNEMENT-ü" and row[5] == "Stratégie-β" for row in before["events"])
    assert any(handler.endswith("réagir") for *_, handler, _, _, _ in before["deliveries"])
    assert any(row[3] == "running" for row in before["runs"])


def assert_kept(before: dict[str, Any], after: dict[str, Any]) -> None:
    """Every row kept, but the run left running: no writer holds it any more, so an open for
    writing marked it crashed."""
    assert {k: v for k, v in after.items() if k != "runs"} == {
        k: v for k, v in before.items() if k != "runs"
    }
    assert [r for r in after["runs"] if r[3] != "crashed"] == [
        r for r in before["runs"] if r[3] != "running"
    ]
    assert [r[3] for r in after["runs"] if r[3] == "crashed"] == ["crashed"]


def test_upgrade_keeps_every_row_and_id(release_store: Path) -> None:
    before = snapshot(release_store)
    with open_store(release_store):
        pass
    assert query(release_store, "SELECT version_num FROM alembic_version") == [(SCHEMA_REVISION,)]
    assert_kept(before, snapshot(release_store))  # the views, read with the 0001 columns
    numbered = query(release_store, "SELECT run_id, run_no FROM runs ORDER BY run_no")
    by_start = query(release_store, "SELECT run_id FROM runs ORDER BY started_at, run_id")
    assert [run_id for run_id, _ in numbered] == [run_id for (run_id,) in by_start]
    assert [run_no for _, run_no in numbered] == [1, 2, 3]
    assert query(release_store, "SELECT count(*) FROM deliveries WHERE self_ns IS NOT NULL") == [
        (0,)
    ]
    assert {name for (name,) in query(release_store, "SELECT name FROM run_names")} >= {
        "ÉVÉNEMENT-ü",
        "Stratégie-β",
        "priced_by",
    }


def test_queries_answer_on_an_upgraded_store(release_store: Path) -> None:
    before = snapshot(release_store)
    fill = next(row for row in before["events"] if row[3] == "FILL")
    parents: dict[str, set[str]] = {}
    for _, parent, child, _, _, _ in before["lineage_edges"]:
        parents.setdefault(child, set()).add(parent)
    expected, todo = {fill[2]}, [fill[2]]
    while todo:
        for parent in parents.get(todo.pop(), set()) - expected:
            expected.add(parent)
            todo.append(parent)
    with open_store(release_store) as store:
        chain = queries.why(store, fill[2])
    assert [e.event_id for e in chain] == sorted(expected, key=lambda i: -int(i.split("-")[1]))
    assert chain[0].event_type == "FILL" and chain[-1].event_type == "BAR"


def test_downgrade_and_upgrade_again_round_trip(release_store: Path) -> None:
    before = snapshot(release_store)
    alembic(release_store, "upgrade", "head")
    alembic(release_store, "downgrade", "0001")
    tables = query(
        release_store,
        "SELECT table_name, table_type FROM information_schema.tables ORDER BY table_name",
    )
    assert tables == [
        ("alembic_version", "BASE TABLE"),
        ("deliveries", "BASE TABLE"),
        ("events", "BASE TABLE"),
        ("lineage_edges", "BASE TABLE"),
        ("runs", "BASE TABLE"),
    ]
    assert snapshot(release_store) == before  # the 0001 tables again, row for row
    alembic(release_store, "upgrade", "head")
    assert snapshot(release_store) == before
    with open_store(release_store, read_only=True) as store:
        assert store.read_only


def test_open_store_upgrades_with_a_message(
    release_store: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING), open_store(release_store):
        pass
    assert f"from schema 0001 to {SCHEMA_REVISION}" in caplog.text


def test_a_reader_is_told_to_migrate(release_store: Path) -> None:
    with pytest.raises(SchemaVersionError, match="eventstore migrate --db"):
        open_store(release_store, read_only=True)


def test_the_migrate_command_upgrades(release_store: Path) -> None:
    before = snapshot(release_store)
    result = CliRunner().invoke(app, ["migrate", "--db", str(release_store)])
    assert result.exit_code == 0, result.output
    assert f"schema at revision {SCHEMA_REVISION}" in result.output
    assert query(release_store, "SELECT version_num FROM alembic_version") == [(SCHEMA_REVISION,)]
    assert_kept(before, snapshot(release_store))


def test_a_row_that_breaks_the_id_rule_stops_the_upgrade_and_changes_nothing(
    release_store: Path,
) -> None:
    con = duckdb.connect(str(release_store))
    con.execute("UPDATE events SET event_id = 'hand-made-7' WHERE seq = 3")
    con.close()
    before = snapshot(release_store)
    with pytest.raises(SchemaVersionError, match=r"an event id that is not <run tag>-<seq>"):
        open_store(release_store)
    assert query(release_store, "SELECT version_num FROM alembic_version") == [("0001",)]
    assert snapshot(release_store) == before


def test_the_migrated_schema_matches_the_table_definitions(release_store: Path) -> None:
    """schema.py is the source of truth: the upgrade builds exactly its tables and columns."""
    with open_store(release_store):
        pass
    dialect = sa.create_engine("duckdb://").dialect
    same = {"TEXT": "VARCHAR", "TIMESTAMP WITHOUT TIME ZONE": "TIMESTAMP"}
    expected = {
        (table.name, column.name, same.get(t, t), column.nullable)
        for table in metadata.sorted_tables
        for column in table.columns
        for t in [column.type.compile(dialect=dialect)]
    }
    found = query(
        release_store,
        "SELECT c.table_name, c.column_name, c.data_type, c.is_nullable = 'YES' "
        "FROM information_schema.columns AS c JOIN information_schema.tables AS t "
        "ON t.table_name = c.table_name WHERE t.table_type = 'BASE TABLE' "
        "AND c.table_name <> 'alembic_version'",
    )
    assert set(found) == expected


def payload_compression(path: Path) -> set[str]:
    con = duckdb.connect(str(path))
    try:
        con.execute("CHECKPOINT")
        rows = con.execute(
            "SELECT DISTINCT compression FROM pragma_storage_info('run_events') "
            "WHERE column_name = 'payload' AND segment_type <> 'VALIDITY'"
        ).fetchall()
    finally:
        con.close()
    return {str(compression) for (compression,) in rows}


def test_0003_compresses_payloads_with_zstd_and_keeps_every_row(release_store: Path) -> None:
    alembic(release_store, "upgrade", "0002")
    before = snapshot(release_store)
    assert payload_compression(release_store) != {"ZSTD"}  # DuckDB's own choice before 0003
    alembic(release_store, "upgrade", "0003")
    assert payload_compression(release_store) == {"ZSTD"}
    assert snapshot(release_store) == before
    alembic(release_store, "downgrade", "0002")
    assert payload_compression(release_store) != {"ZSTD"}
    assert snapshot(release_store) == before
