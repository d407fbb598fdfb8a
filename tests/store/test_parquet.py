"""Parquet datasets: a real traced backtest exported, imported back row for row, queried in
place with the same answers as the database, and read as one table by DuckDB, Polars and
pyarrow."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pyarrow.dataset as pds
import pytest

from eventstore import (
    Event,
    EventTracer,
    SchemaVersionError,
    Store,
    StoreError,
    TracedEventBus,
    open_store,
    queries,
)
from eventstore.errors import OutputError
from eventstore.store.dataset import MARKER, DatasetStore, run_file
from eventstore.store.parquet import export_runs, import_dataset
from tests.queries.backtest_store import traced_backtests
from tests.queries.flows import CLOSES, trace_trading

COMPACT = ("run_names", "run_events", "run_edges", "run_deliveries")
VIEWS = ("events", "lineage_edges", "deliveries")
ODD_RUN_ID = "team/sweep a=1%#"
"""A run id a user chose, with characters a directory name can't hold as they are."""


@dataclass
class Source:
    """A DuckDB store of two demo backtests, a run with failing handlers and a run with an
    odd id, and its export."""

    db: Path
    dataset: Path
    run_ids: list[str]


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Source:
    folder = tmp_path_factory.mktemp("parquet")
    db = folder / "runs.duckdb"
    run_ids = traced_backtests(db)
    with open_store(db) as store:
        run_ids.append(trace_trading(store, CLOSES[:4], name="failing", failing_risk=True).run_id)
        run_ids.append(trace_trading(store, CLOSES, correlation_id=ODD_RUN_ID).run_id)
        export_runs(store, folder / "dataset")
    return Source(db, folder / "dataset", run_ids)


def rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def keyed_by_run_id(table: str) -> str:
    """A table's rows with the store-local run number replaced by the run id, in one order."""
    return (
        f"SELECT r.run_id, t.* EXCLUDE (run_no) FROM {table} AS t "
        "JOIN runs AS r USING (run_no) ORDER BY ALL"
    )


def everything(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    held = {"runs": rows(path, "SELECT * EXCLUDE (run_no) FROM runs ORDER BY run_id")}
    held.update({table: rows(path, keyed_by_run_id(table)) for table in COMPACT})
    held.update(
        {view: rows(path, f"SELECT * EXCLUDE (run_no) FROM {view} ORDER BY ALL") for view in VIEWS}
    )
    return held


def test_round_trip_restores_every_row(source: Source, tmp_path: Path) -> None:
    target = tmp_path / "imported.duckdb"
    result = import_dataset(source.dataset, target)
    assert sorted(result.imported) == sorted(source.run_ids)
    before, after = everything(source.db), everything(target)
    assert {table: len(held) for table, held in after.items()} == {
        table: len(held) for table, held in before.items()
    }
    assert min(len(held) for held in before.values()) >= len(source.run_ids)
    for table in before:
        assert after[table] == before[table], table


def test_import_twice_duplicates_nothing(source: Source, tmp_path: Path) -> None:
    target = tmp_path / "imported.duckdb"
    import_dataset(source.dataset, target)
    once = everything(target)
    again = import_dataset(source.dataset, target)
    assert again.imported == [] and sorted(again.skipped) == sorted(source.run_ids)
    assert everything(target) == once
    numbers = rows(target, "SELECT run_id, run_no FROM runs ORDER BY run_id")
    replaced = import_dataset(source.dataset, target, replace=True)
    assert sorted(replaced.replaced) == sorted(source.run_ids)
    assert everything(target) == once
    assert rows(target, "SELECT run_id, run_no FROM runs ORDER BY run_id") == numbers


def test_import_renumbers_runs_and_keeps_ids(source: Source, tmp_path: Path) -> None:
    target = tmp_path / "busy.duckdb"
    with open_store(target) as store:
        own = trace_trading(store, CLOSES, name="already here")
    import_dataset(source.dataset, target)
    numbers = dict(rows(target, "SELECT run_id, run_no FROM runs"))
    assert numbers[own.run_id] == 1
    assert sorted(numbers.values()) == list(range(1, len(source.run_ids) + 2))
    fill = queries.signal_to_fill_chains(source.db, source.run_ids[0])["fill_id"][0].as_py()
    assert queries.why(target, fill) == queries.why(source.db, fill)
    assert queries.effects(target, fill) == queries.effects(source.db, fill)


def test_queries_on_the_dataset_equal_queries_on_the_database(source: Source) -> None:
    db, dataset = source.db, source.dataset
    first, second = source.run_ids[:2]
    assert queries.list_runs(dataset) == queries.list_runs(db)
    chains = queries.signal_to_fill_chains(db, first)
    assert chains.num_rows > 0 and queries.signal_to_fill_chains(dataset, first) == chains
    for fill in chains["fill_id"].to_pylist()[:3]:
        assert queries.why(dataset, fill) == queries.why(db, fill)
        assert queries.ancestors(dataset, fill) == queries.ancestors(db, fill)
    bar = max(queries.why(db, chains["fill_id"][0].as_py()), key=lambda e: e.depth).event_id
    assert len(queries.effects(db, bar)) > 1
    assert queries.effects(dataset, bar) == queries.effects(db, bar)
    for by in ("type", "handler", "source"):
        latency = queries.latency_percentiles(db, [], by=by, per_run=True)
        assert queries.latency_percentiles(dataset, [], by=by, per_run=True) == latency
    diff_db, diff_ds = (
        queries.compare_runs(db, first, second),
        queries.compare_runs(dataset, first, second),
    )
    for part in ("counts", "latency", "unmatched", "divergence"):
        assert getattr(diff_ds, part) == getattr(diff_db, part), part
    assert queries.run_analysis(dataset, ODD_RUN_ID) == queries.run_analysis(db, ODD_RUN_ID)
    sql = (
        "SELECT event_type, count(*) AS n, sum(length(CAST(payload AS VARCHAR))) AS size "
        "FROM events GROUP BY 1 ORDER BY 1"
    )
    assert queries.run_sql(dataset, sql) == queries.run_sql(db, sql)
    with open_store(dataset) as store:  # open_store(DIR) from Python, used as a store
        assert isinstance(store, DatasetStore) and store.read_only
        assert queries.list_runs(store) == queries.list_runs(db)


def test_engines_read_each_table_as_one_dataset(source: Source) -> None:
    events = source.dataset / "events"
    counted = dict(
        duckdb.sql(
            f"SELECT run_id, count(*) FROM read_parquet('{events}/*/*.parquet', "
            "hive_partitioning = true) GROUP BY run_id"
        ).fetchall()
    )
    assert counted == dict(rows(source.db, "SELECT run_id, count(*) FROM events GROUP BY 1"))
    lazy = pl.scan_parquet(f"{events}/**/*.parquet", hive_partitioning=True)
    assert dict(lazy.group_by("run_id").len().collect().iter_rows()) == counted
    for kind in ("runs", "run_names", "events", "lineage_edges", "deliveries"):
        table = pds.dataset(source.dataset / kind, partitioning="hive").to_table()
        assert sorted(set(table["run_id"].to_pylist())) == sorted(source.run_ids), kind
        schemas = {pds.dataset(path).schema for path in (source.dataset / kind).glob("*/*")}
        assert len(schemas) == 1, f"{kind}: its files disagree on their schema"
    edges = pds.dataset(source.dataset / "lineage_edges", partitioning="hive").to_table()
    assert set(edges["kind"].to_pylist()) == {"caused_by", "priced_by"}


def test_an_engine_reading_the_files_gets_every_column_of_the_views(source: Source) -> None:
    """Read without our views (as a data lake does), each directory holds every column the
    store's view of the same name has (README: the names users' SQL uses, beside the compact
    ones), with the same values; only ``run_no``, which numbers runs within one store, is not."""
    for view in VIEWS:
        columns = [c for (c,) in rows(source.db, f"SELECT name FROM pragma_table_info('{view}')")]
        wanted = ", ".join(c for c in columns if c != "run_no")
        files = f"read_parquet('{source.dataset / view}/*/*.parquet', hive_partitioning = true)"
        read = duckdb.sql(f"SELECT {wanted} FROM {files} ORDER BY ALL").fetchall()
        assert read == rows(source.db, f"SELECT {wanted} FROM {view} ORDER BY ALL"), view


def test_odd_run_ids_are_percent_encoded_in_directory_names(source: Source) -> None:
    folder = run_file(source.dataset, "events", ODD_RUN_ID).parent
    assert folder.name == "run_id=team%2Fsweep%20a%3D1%25%23" and folder.parent.name == "events"


def test_a_run_is_visible_only_once_its_runs_file_is_written(
    source: Source, tmp_path: Path
) -> None:
    dataset = tmp_path / "dataset"
    shutil.copytree(source.dataset, dataset)
    half_written = source.run_ids[0]
    run_file(dataset, "runs", half_written).unlink()  # an export stopped before its last file
    shown = queries.list_runs(dataset)["run_id"].to_pylist()
    assert half_written not in shown and len(shown) == len(source.run_ids) - 1
    events = queries.run_sql(dataset, "SELECT DISTINCT run_id FROM events")["run_id"]
    assert half_written not in events.to_pylist()
    result = import_dataset(dataset, tmp_path / "imported.duckdb")
    assert half_written not in result.imported and len(result.imported) == len(shown)


def test_exporting_a_run_again_replaces_it(source: Source, tmp_path: Path) -> None:
    dataset = tmp_path / "dataset"
    first = source.run_ids[0]
    with open_store(source.db, read_only=True) as store:
        assert export_runs(store, dataset, [first, first]) == [first]
        assert export_runs(store, dataset, [first]) == [first]
        assert export_runs(store, dataset, [source.run_ids[1]]) == [source.run_ids[1]]
    assert sorted(path.name for path in (dataset / "events").rglob("*")) == sorted(
        ["part-0.parquet"] * 2
        + [run_file(dataset, "events", r).parent.name for r in source.run_ids[:2]]
    )
    counted = rows(source.db, f"SELECT count(*) FROM events WHERE run_id = '{first}'")
    assert queries.run_sql(dataset, f"SELECT count(*) AS n FROM events WHERE run_id = '{first}'")[
        "n"
    ].to_pylist() == [counted[0][0]]


def test_a_dataset_exports_to_another_whole_even_under_a_tight_memory_cap(
    source: Source, tmp_path: Path
) -> None:
    """Its rows are read sorted from views over the files, which once ran out of the cap
    (``Out of Memory Error``): the export runs once more uncapped, as a query does."""
    copy = tmp_path / "copy"
    with open_store(source.dataset, memory_limit="4MB") as dataset:
        assert sorted(export_runs(dataset, copy)) == sorted(source.run_ids)
    result = import_dataset(copy, tmp_path / "imported.duckdb")
    assert sorted(result.imported) == sorted(source.run_ids)
    assert everything(tmp_path / "imported.duckdb") == everything(source.db)


def test_a_dataset_is_not_exported_into_itself(source: Source, tmp_path: Path) -> None:
    """Its files would be replaced while they are read, each run's `runs` file first: a run
    the export failed on was gone from the dataset."""
    dataset = tmp_path / "dataset"
    shutil.copytree(source.dataset, dataset)
    with open_store(dataset) as opened, pytest.raises(OutputError) as error:
        export_runs(opened, tmp_path / "." / "dataset")
    assert str(error.value) == (
        f"{tmp_path / 'dataset'} is the dataset being exported: its runs are there already; "
        "export into another folder"
    )
    result = import_dataset(dataset, tmp_path / "imported.duckdb")
    assert sorted(result.imported) == sorted(source.run_ids)


def test_export_takes_one_run_id_and_a_path(source: Source, tmp_path: Path) -> None:
    """One id is one run, not one run per character; a path is opened read-only, as the
    query helpers open one."""
    first = source.run_ids[0]
    assert export_runs(source.db, tmp_path / "one", first) == [first]
    assert queries.list_runs(tmp_path / "one")["run_id"].to_pylist() == [first]
    assert export_runs(str(source.db), tmp_path / "all") == source.run_ids


def test_a_store_without_runs_exports_an_empty_dataset(tmp_path: Path) -> None:
    with open_store(tmp_path / "empty.duckdb") as store:
        assert export_runs(store, tmp_path / "dataset") == []
    assert queries.list_runs(tmp_path / "dataset").num_rows == 0
    assert import_dataset(tmp_path / "dataset", tmp_path / "target.duckdb").imported == []


def test_files_export_did_not_write_are_no_part_of_the_dataset(
    source: Source, tmp_path: Path
) -> None:
    """A note, another tool's Parquet file beside the runs' directories or inside one: every
    command reads the runs as if they were not there, as import does."""
    dataset = tmp_path / "dataset"
    shutil.copytree(source.dataset, dataset)
    (dataset / "events" / "README.txt").write_text("our lake\n", encoding="utf-8")
    (dataset / "events" / "notes").mkdir()
    (dataset / "events" / "notes" / "broken.parquet").write_text("not parquet", encoding="utf-8")
    foreign = dataset / "runs" / "other" / "part-0.parquet"
    foreign.parent.mkdir()
    duckdb.sql(f"COPY (SELECT 1 AS x) TO '{foreign}' (FORMAT parquet)")
    shutil.copy(foreign, run_file(dataset, "events", source.run_ids[0]).with_name("extra.parquet"))

    sql = "SELECT run_id, event_type, count(*) AS n FROM events GROUP BY ALL ORDER BY ALL"
    assert queries.run_sql(dataset, sql) == queries.run_sql(source.dataset, sql)
    assert queries.list_runs(dataset) == queries.list_runs(source.dataset)
    assert sorted(import_dataset(dataset, tmp_path / "t.duckdb").imported) == sorted(source.run_ids)


def test_a_dataset_is_read_only(source: Source) -> None:
    with open_store(source.dataset) as store, pytest.raises(StoreError, match="read-only"):
        EventTracer(store=store, name="refused")


def test_bad_datasets_are_clear_errors(source: Source, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no Parquet dataset at"):
        import_dataset(tmp_path / "missing", tmp_path / "t.duckdb")
    (tmp_path / "plain").mkdir()
    with pytest.raises(StoreError, match="not an eventstore Parquet dataset"):
        import_dataset(tmp_path / "plain", tmp_path / "t.duckdb")
    newer = tmp_path / "newer"
    shutil.copytree(source.dataset, newer)
    marker = json.loads((newer / MARKER).read_text())
    (newer / MARKER).write_text(json.dumps({**marker, "format_version": 99}))
    with pytest.raises(SchemaVersionError, match="format 99"):
        open_store(newer)
    # 0003 changed only how DuckDB compresses payloads: a 0002 export reads as it is.
    (newer / MARKER).write_text(json.dumps({**marker, "schema_revision": "0002"}))
    with open_store(newer) as store:
        assert store.fetch_records("SELECT count(*) AS n FROM runs")[0]["n"] == len(source.run_ids)
    (newer / MARKER).write_text(json.dumps({**marker, "schema_revision": "0001"}))
    with pytest.raises(SchemaVersionError, match="of schema 0001"):
        open_store(newer)
    broken = tmp_path / "broken"
    shutil.copytree(source.dataset, broken)
    run_file(broken, "deliveries", source.run_ids[1]).unlink()
    with pytest.raises(StoreError, match=r"incomplete .*deliveries.* missing"):
        import_dataset(broken, tmp_path / "t.duckdb")
    run_file(broken, "events", source.run_ids[0]).write_bytes(b"not parquet")
    with pytest.raises(StoreError, match=f"importing run {source.run_ids[0]} .* nothing of it"):
        import_dataset(broken, tmp_path / "t2.duckdb")
    assert source.run_ids[0] not in [
        r for (r,) in rows(tmp_path / "t2.duckdb", "SELECT run_id FROM runs")
    ]


def test_export_refuses_to_write_into_a_foreign_directory(source: Source, tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.jpg").write_bytes(b"")
    with open_store(source.db, read_only=True) as store:
        with pytest.raises(OutputError, match="not an eventstore dataset"):
            export_runs(store, tmp_path / "photos")
        with pytest.raises(OutputError, match="does not exist"):
            export_runs(store, tmp_path / "missing" / "dataset")
        with pytest.raises(StoreError, match="no run nope"):
            export_runs(store, tmp_path / "dataset", ["nope"])
    assert sorted(p.name for p in (tmp_path / "photos").iterdir()) == ["cat.jpg"]


def test_a_run_exported_while_running_is_not_imported_until_exported_done(
    backend_store: Store, tmp_path: Path
) -> None:
    """A snapshot of a run still being written (readable on PostgreSQL while it runs) would
    become a `crashed` copy, and the finished run would then be skipped as held: import leaves
    it out, saying so, until an export after its end."""
    lake, target = tmp_path / "lake", tmp_path / "copy.duckdb"
    bus = TracedEventBus("bus")
    with EventTracer(store=backend_store) as tracer:
        bus.set_tracer(tracer)
        bus.publish(Event("TICK", datetime(2024, 1, 2)))
        tracer.flush()
        export_runs(backend_store, lake)
        early = import_dataset(lake, target)
        bus.publish(Event("TICK", datetime(2024, 1, 2)))
    assert (early.imported, early.running) == ([], [tracer.correlation_id])
    assert queries.list_runs(target).num_rows == 0
    export_runs(backend_store, lake)
    done = import_dataset(lake, target)
    assert (done.imported, done.running) == ([tracer.correlation_id], [])
    summary = queries.list_runs(target).to_pylist()
    assert [(r["status"], r["events"]) for r in summary] == [("completed", 2)]


@pytest.mark.parametrize("backend", ["duckdb", "postgresql"])
def test_damaged_runs_do_not_stop_the_import_of_the_others(
    source: Source, tmp_path: Path, request: pytest.FixtureRequest, backend: str
) -> None:
    """A team's dataset with a damaged run: the import stopped at it, silently leaving the
    runs before it imported and those after it not; now it loads every other run and then
    names the damaged ones, and importing again once they are repaired loads just them."""
    target = (
        str(tmp_path / "t.duckdb") if backend == "duckdb" else request.getfixturevalue("pg_url")
    )
    damaged = tmp_path / "damaged"
    shutil.copytree(source.dataset, damaged)
    missing, truncated = source.run_ids[0], source.run_ids[2]
    run_file(damaged, "lineage_edges", missing).unlink()
    whole = run_file(damaged, "deliveries", truncated).read_bytes()
    run_file(damaged, "deliveries", truncated).write_bytes(whole[:1000])

    with pytest.raises(StoreError) as raised:
        import_dataset(damaged, target)
    message = str(raised.value)
    assert missing in message and truncated in message
    assert f"({len(source.run_ids) - 2} loaded, 0 already held)" in message
    with open_store(target, read_only=True) as store:
        held = {r["run_id"] for r in store.fetch_records("SELECT run_id FROM runs")}
    assert held == set(source.run_ids) - {missing, truncated}

    shutil.copy(
        run_file(source.dataset, "lineage_edges", missing),
        run_file(damaged, "lineage_edges", missing),
    )
    run_file(damaged, "deliveries", truncated).write_bytes(whole)
    result = import_dataset(damaged, target)
    assert sorted(result.imported) == sorted([missing, truncated])
    assert len(result.skipped) == len(source.run_ids) - 2
    with open_store(target, read_only=True) as store:
        for table in ("events", "lineage_edges", "deliveries"):
            counted = store.fetch_records(f"SELECT count(*) AS n FROM {table}")[0]["n"]
            assert counted == rows(source.db, f"SELECT count(*) FROM {table}")[0][0], table
