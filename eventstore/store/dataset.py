"""A Parquet dataset directory read as a store: what marks a directory as one, where a run's
files lie, and ``open_dataset``, which gives the query helpers an in-memory DuckDB store whose
tables are views over the files (``parquet.py`` says how they are written and loaded).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from urllib.parse import quote

import duckdb

from eventstore.errors import SchemaVersionError, StoreError, first_line
from eventstore.store.duckdb_store import DuckDBStore
from eventstore.store.schema import SCHEMA_REVISION, metadata
from eventstore.tracing.writer import BatchWriter

logger = logging.getLogger(__name__)

MARKER = "_eventstore.json"
"""Names a directory as a dataset; engines skip files starting with ``_``."""
FORMAT = "eventstore-parquet"
FORMAT_VERSION = 1
READABLE_REVISIONS = ("0002", SCHEMA_REVISION)
"""Schema revisions whose tables hold the columns of a format-1 dataset (0003 only changed how
DuckDB compresses payloads)."""
PART = "part-0.parquet"
PARTITIONS = f"run_id=*/{PART}"
"""Every run's file of a table, relative to the table's directory."""

TABLES = {
    "runs": "runs",
    "run_names": "run_names",
    "events": "run_events",
    "lineage_edges": "run_edges",
    "deliveries": "run_deliveries",
}
"""Directory → the store table its files restore."""


def is_dataset(path: Path) -> bool:
    """Whether ``path`` is a directory an export wrote (it holds the marker file)."""
    return (path / MARKER).is_file()


def run_file(folder: Path, kind: str, run_id: str) -> Path:
    """Where ``kind``'s rows of a run live in a dataset."""
    return folder / kind / f"run_id={quote(run_id, safe='')}" / PART


def read_marker(folder: Path) -> dict[str, object]:
    """The dataset's marker, checked: a clear error for a missing, foreign or newer dataset."""
    marker = folder / MARKER
    if not folder.exists():
        raise StoreError(
            f"no Parquet dataset at {folder}: export one first "
            f"(eventstore export RUN --parquet {folder})"
        )
    if not marker.is_file():
        raise StoreError(
            f"{folder} is not an eventstore Parquet dataset (it has no {MARKER}): give the "
            "directory `eventstore export --parquet` wrote"
        )
    try:
        found = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StoreError(f"cannot read {marker} ({exc}): export the dataset again") from None
    if not isinstance(found, dict) or found.get("format") != FORMAT:
        raise StoreError(f"{marker} does not describe an eventstore dataset: export it again")
    version, revision = found.get("format_version"), found.get("schema_revision")
    if version != FORMAT_VERSION or revision not in READABLE_REVISIONS:
        raise SchemaVersionError(
            f"{folder} holds dataset format {version} of schema {revision}; this eventstore "
            f"reads format {FORMAT_VERSION} of schemas {', '.join(READABLE_REVISIONS)}: export "
            "the runs again with this version, or read them with the version that wrote them"
        )
    return found


def _literal(text: str) -> str:
    """A SQL string literal (a view's file glob can't be a bound parameter)."""
    return "'" + text.replace("'", "''") + "'"


def scan(folder: Path, kind: str) -> str:
    """Every run's file of one directory as one relation, its ``run_id`` from the partition.
    Only the files export writes: anything else in the directory (a note, a file another tool
    left) is no part of the dataset, as it is no part of an import."""
    pattern = _literal(str(folder / kind / PARTITIONS))
    return (
        f"read_parquet({pattern}, hive_partitioning = true, hive_types = {{'run_id': 'VARCHAR'}})"
    )


class DatasetStore(DuckDBStore):
    """A Parquet dataset opened as a read-only store: an in-memory DuckDB database whose
    tables (``run_events`` …) are views over the files, numbered runs, and the compatibility
    views (``events`` …) of the current schema, so every query runs on it unchanged."""

    def __init__(self, folder: Path, duck: duckdb.DuckDBPyConnection) -> None:
        super().__init__(Path(":memory:"), duck, read_only=True)
        self.folder = folder

    @property
    def where(self) -> str:
        return str(self.folder)

    def batch_writer(self) -> BatchWriter:
        raise StoreError(
            f"{self.folder} is a Parquet dataset, which is read-only: trace into a DuckDB "
            f"file (--db runs.duckdb), or import the dataset into one first "
            f"(eventstore import {self.folder} --db runs.duckdb)"
        )

    def __repr__(self) -> str:
        return f"DatasetStore({str(self.folder)!r}, read-only)"


def open_dataset(folder: Path, memory_limit: str | None = None) -> DatasetStore:
    """Open the dataset at ``folder`` for the query helpers and ad-hoc SQL, read-only.

    The schema comes from the store's own migrations (run on an empty in-memory database), so
    the compatibility views are exactly those of a DuckDB file; then each table that has files
    becomes a view over them. ``runs`` is loaded once, numbered by start: the run set a
    query sees is the one present when the dataset was opened. ``memory_limit`` caps DuckDB
    as ``open_store`` says."""
    from eventstore.store.migrate import upgrade

    read_marker(folder)
    store = DatasetStore(folder, duckdb.connect(":memory:"))
    try:
        upgrade(store)
        cursor = store.cursor()
        try:
            _mount(cursor, folder)
        finally:
            cursor.close()
        if memory_limit is not None:
            store.cap_memory(memory_limit)
    except duckdb.Error as exc:
        store.close()
        raise StoreError(
            f"cannot read the Parquet dataset {folder} ({first_line(exc)}): export it again"
        ) from None
    except BaseException:
        store.close()
        raise
    return store


def _mount(cursor: duckdb.DuckDBPyConnection, folder: Path) -> None:
    if not any((folder / "runs").glob(PARTITIONS)):
        return  # no runs: the empty tables stand
    columns = [c.name for c in metadata.tables["runs"].columns if c.name != "run_no"]
    cursor.execute(
        f"INSERT INTO runs ({', '.join(columns)}, run_no) SELECT {', '.join(columns)}, "
        "CAST(row_number() OVER (ORDER BY started_at, run_id) AS INTEGER) "
        f"FROM {scan(folder, 'runs')}"
    )
    _leave_out_incomplete_runs(cursor, folder)
    for kind, table in TABLES.items():
        if kind == "runs" or not any((folder / kind).glob(PARTITIONS)):
            continue
        types = dict(
            cursor.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_name = ?",
                [table],
            ).fetchall()
        )
        names = [
            f"CAST(f.{c.name} AS {types[c.name]}) AS {c.name}"
            for c in metadata.tables[table].columns
            if c.name != "run_no"
        ]
        cursor.execute(f"DROP TABLE {table}")
        cursor.execute(
            f"CREATE VIEW {table} AS SELECT r.run_no, {', '.join(names)} "
            f"FROM {scan(folder, kind)} AS f JOIN runs AS r ON r.run_id = f.run_id"
        )


def _leave_out_incomplete_runs(cursor: duckdb.DuckDBPyConnection, folder: Path) -> None:
    """Drop runs that lack one of their files (deleted, or lost in a copy) from ``runs``, with
    a warning naming each: read as they are, they would look like runs with no events, edges
    or deliveries, answering every question about them wrongly (``import`` refuses them too).
    The other runs stay readable."""
    run_ids = [str(run_id) for (run_id,) in cursor.execute("SELECT run_id FROM runs").fetchall()]
    for run_id in run_ids:
        missing = [kind for kind in TABLES if not run_file(folder, kind, run_id).is_file()]
        if missing:
            cursor.execute("DELETE FROM runs WHERE run_id = ?", [run_id])
            logger.warning(
                "left out run %s of %s: its %s file%s missing (export it again)",
                run_id,
                folder,
                ", ".join(missing),
                " is" if len(missing) == 1 else "s are",
            )
