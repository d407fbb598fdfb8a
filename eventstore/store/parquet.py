"""Parquet datasets: runs exported as Hive-partitioned Parquet, imported back, or queried in place.

A dataset is a directory that DuckDB, Polars, pyarrow, Spark and Trino read as one table per
directory, partitioned by run (``run_id`` is the partition column: it is in no file, so no
engine sees it twice)::

    DIR/_eventstore.json                              what this is: format, schema revision
    DIR/runs/run_id=<run id>/part-0.parquet           the run (one row)
    DIR/run_names/run_id=<run id>/part-0.parquet      its name codes
    DIR/events/run_id=<run id>/part-0.parquet         its events, by seq
    DIR/lineage_edges/run_id=<run id>/part-0.parquet  its lineage edges
    DIR/deliveries/run_id=<run id>/part-0.parquet     its handler deliveries

Run ids are percent-encoded in directory names, as Hive does; every engine above decodes them.
Each file holds the row's compact columns (integer codes and seqs, exactly what the store keeps,
so an import restores every row) and beside them the strings users' SQL names: ``event_id``,
``event_type``, ``source``, ``causation_id``, ``kind``, ``handler``. Parquet stores a repeated
string once per row group, so the names cost little, and a data lake needs no join to read them.
``run_no`` is in no file: it numbers runs within one store, so two stores' exports can share a
directory; whoever reads a dataset numbers its runs (by start) and an import renumbers them.

A run is written atomically: its ``runs`` file is removed first and written last (each file is
written under a hidden temporary name, then renamed), and readers here see only runs whose
``runs`` file exists. Exporting a run again replaces it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from eventstore.errors import OutputError, StoreError, first_line
from eventstore.store.dataset import (
    FORMAT,
    FORMAT_VERSION,
    MARKER,
    PART,
    PARTITIONS,
    TABLES,
    DatasetStore,
    is_dataset,
    read_marker,
    run_file,
    scan,
)
from eventstore.store.duckdb_store import DuckDBStore, interrupted
from eventstore.store.duckdb_writer import delete_run
from eventstore.store.persistence import Store
from eventstore.store.postgres import PostgresStore
from eventstore.store.schema import SCHEMA_REVISION, metadata
from eventstore.store.store import open_store

ROW_GROUP_ROWS = 122_880
"""Rows per row group (DuckDB's own default): seq ranges prune to a row group or two."""

Progress = Callable[[int, int], None]

_ID = "r.tag || '-' || CAST({} AS VARCHAR)"
_EXPORTS: dict[str, str] = {
    "runs": "SELECT * EXCLUDE (run_id, run_no) FROM runs AS r WHERE r.run_no = $run_no",
    "run_names": ("SELECT * EXCLUDE (run_no) FROM run_names WHERE run_no = $run_no ORDER BY code"),
    "events": f"""
        SELECT e.seq, {_ID.format("e.seq")} AS event_id, t.name AS event_type, s.name AS source,
               CASE WHEN e.causation_seq IS NOT NULL
                    THEN {_ID.format("e.causation_seq")} END AS causation_id,
               e.* EXCLUDE (run_no, seq)
        FROM run_events AS e
        JOIN runs AS r ON r.run_no = e.run_no
        JOIN run_names AS t ON t.run_no = e.run_no AND t.code = e.type_code
        LEFT JOIN run_names AS s ON s.run_no = e.run_no AND s.code = e.source_code
        WHERE e.run_no = $run_no ORDER BY e.seq""",
    "lineage_edges": f"""
        SELECT {_ID.format("g.parent_seq")} AS parent_id, {_ID.format("g.child_seq")} AS child_id,
               k.name AS kind, g.* EXCLUDE (run_no)
        FROM run_edges AS g
        JOIN runs AS r ON r.run_no = g.run_no
        JOIN run_names AS k ON k.run_no = g.run_no AND k.code = g.kind_code
        WHERE g.run_no = $run_no ORDER BY g.child_seq, g.parent_seq""",
    "deliveries": f"""
        SELECT {_ID.format("d.seq")} AS event_id, h.name AS handler, d.* EXCLUDE (run_no)
        FROM run_deliveries AS d
        JOIN runs AS r ON r.run_no = d.run_no
        JOIN run_names AS h ON h.run_no = d.run_no AND h.code = d.handler_code
        WHERE d.run_no = $run_no ORDER BY d.seq, d.received_ns""",
}
"""What each directory holds for one run, read from a store."""


# ------------------------------------------------------------------------------------- export


def export_runs(
    store: Store | str | os.PathLike[str],
    folder: str | os.PathLike[str],
    run_ids: str | Sequence[str] | None = None,
    progress: Progress | None = None,
) -> list[str]:
    """Write the runs ``run_ids`` (exact ids, or one id; None: every run) of ``store`` (a
    store, or a path or URL opened read-only) to the dataset at ``folder``, creating it,
    replacing runs it already holds; return the ids written."""
    if isinstance(store, str | os.PathLike):
        with open_store(store, read_only=True) as opened:
            return export_runs(opened, folder, run_ids, progress)
    if isinstance(run_ids, str):
        run_ids = [run_ids]
    elif run_ids is not None:
        run_ids = list(run_ids)
    folder = Path(folder)
    if isinstance(store, DatasetStore) and store.folder.resolve() == folder.resolve():
        # Its files would be replaced while they are read, a run's `runs` file first.
        raise OutputError(
            f"{folder} is the dataset being exported: its runs are there already; export "
            "into another folder"
        )
    if not isinstance(store, DuckDBStore):
        with _staged(store, run_ids) as staged:
            return export_runs(staged, folder, run_ids, progress)
    cursor = store.cursor()
    try:
        numbers = _run_numbers(cursor, run_ids, store)
        _prepare(folder)
        for done, (run_id, run_no) in enumerate(numbers.items(), start=1):
            # A dataset's sorted reads may need more than a capped store may take: once more
            # uncapped, as its queries are (the run's files are replaced whole).
            store._once_more_uncapped(partial(_export_run, cursor, folder, run_id, run_no))
            if progress is not None:
                progress(done, len(numbers))
    except duckdb.Error as exc:
        raise StoreError(f"exporting to {folder} failed: {first_line(exc)}") from None
    except RuntimeError as exc:
        if not interrupted(exc):
            raise
        raise KeyboardInterrupt from None  # the run being written stays hidden, as it was
    finally:
        cursor.close()
    return list(numbers)


@contextmanager
def _staged(store: Store, run_ids: list[str] | None) -> Iterator[DuckDBStore]:
    """The runs ``run_ids`` of a server store (PostgreSQL) copied into an in-memory DuckDB
    store of the same schema, so one export path (and one file schema) serves every backend.
    The runs are held in memory while the dataset is written."""
    from eventstore.store.duckdb_store import open_duckdb

    runs = store.fetch_arrow("SELECT * FROM runs ORDER BY started_at, run_id")
    known = runs.column("run_id").to_pylist()
    missing = [run_id for run_id in run_ids or () if run_id not in known]
    if missing:
        raise StoreError(
            f"no run {', '.join(missing)} in {store.where}: "
            f"`eventstore runs --db {store.where}` lists them"
        )
    if run_ids is not None:
        runs = runs.filter(pc.is_in(runs.column("run_id"), pa.array(run_ids, pa.string())))
    staging = open_duckdb(Path(":memory:"), read_only=False, wait=0.0)
    cursor = staging.cursor()
    try:
        _stage(cursor, "runs", runs)
        for run_no in runs.column("run_no").to_pylist():
            for table in ("run_names", "run_events", "run_edges", "run_deliveries"):
                rows = store.fetch_arrow(
                    f"SELECT * FROM {table} WHERE run_no = :run_no", {"run_no": run_no}
                )
                _stage(cursor, table, rows)
        yield staging
    finally:
        cursor.close()
        staging.close()


def _stage(cursor: duckdb.DuckDBPyConnection, table: str, rows: pa.Table) -> None:
    columns = ", ".join(rows.column_names)
    cursor.register("_es_staged", rows)
    try:
        cursor.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM _es_staged")
    finally:
        cursor.unregister("_es_staged")


def _run_numbers(
    cursor: duckdb.DuckDBPyConnection, run_ids: list[str] | None, store: Store
) -> dict[str, int]:
    rows = cursor.execute("SELECT run_id, run_no FROM runs ORDER BY started_at, run_id").fetchall()
    known = {str(run_id): int(run_no) for run_id, run_no in rows}
    if run_ids is None:
        return known
    missing = [run_id for run_id in run_ids if run_id not in known]
    if missing:
        raise StoreError(
            f"no run {', '.join(missing)} in {store.where}: "
            f"`eventstore runs --db {store.where}` lists them"
        )
    return {run_id: known[run_id] for run_id in dict.fromkeys(run_ids)}


def _prepare(folder: Path) -> None:
    """Make ``folder`` a dataset: a new or empty directory gets the marker; a dataset of this
    format is reused; anything else is refused rather than written into."""
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{folder} is a file: give a directory for the Parquet dataset")
    if folder.is_dir() and is_dataset(folder):
        read_marker(folder)
        return
    if folder.is_dir() and any(folder.iterdir()):
        raise OutputError(
            f"{folder} is a directory that is not an eventstore dataset (no {MARKER}): "
            "export into a new or empty directory, or into an earlier export"
        )
    if not folder.parent.is_dir():
        raise OutputError(f"cannot create {folder}: directory {folder.parent} does not exist")
    try:
        folder.mkdir(exist_ok=True)
        marker = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "schema_revision": SCHEMA_REVISION,
            "layout": f"<table>/run_id=<run id>/{PART}",
        }
        _replace_text(folder / MARKER, json.dumps(marker, indent=2) + "\n")
    except OSError as exc:
        raise OutputError(f"cannot write {folder}: {exc.strerror or exc}") from None


def _export_run(cursor: duckdb.DuckDBPyConnection, folder: Path, run_id: str, run_no: int) -> None:
    """Write one run, its ``runs`` file last: until then readers don't see the run."""
    run_file(folder, "runs", run_id).unlink(missing_ok=True)
    for kind in (*[k for k in _EXPORTS if k != "runs"], "runs"):
        target = run_file(folder, kind, run_id)
        temporary = target.with_name(f".{PART}.tmp")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            relation = cursor.sql(_EXPORTS[kind], params={"run_no": run_no})
            assert relation is not None
            _write_parquet(relation.to_arrow_reader(ROW_GROUP_ROWS), temporary)
            os.replace(temporary, target)
        except OSError as exc:
            temporary.unlink(missing_ok=True)
            raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from None
        except BaseException:  # Ctrl-C: no half-written file is left behind
            temporary.unlink(missing_ok=True)
            raise


def _write_parquet(rows: pa.RecordBatchReader, path: Path) -> None:
    """Write ``rows`` with every column nullable: DuckDB's own writer marks a column required
    when this run's rows have no null, and the files of one table must share one schema."""
    schema = pa.schema([column.with_nullable(True) for column in rows.schema])
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for batch in rows:
            writer.write_batch(pa.RecordBatch.from_arrays(batch.columns, schema=schema))


def _replace_text(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


# ------------------------------------------------------------------------------------- import


@dataclass
class ImportResult:
    """What an import did, run by run."""

    imported: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    running: list[str] = field(default_factory=list)
    """Runs still running when they were exported (a snapshot, from a PostgreSQL store): not
    loaded, since the target would mark its copy ``crashed``, a death that did not happen, and
    a later import would skip the finished run as held; export them again once they end."""
    failed: list[tuple[str, str]] = field(default_factory=list)
    """Runs whose files could not be loaded (missing, damaged), with why; ``import_dataset``
    loads every other run, then raises a ``StoreError`` naming these."""


def import_dataset(
    folder: str | os.PathLike[str],
    target: Store | str | os.PathLike[str],
    *,
    replace: bool = False,
    progress: Progress | None = None,
) -> ImportResult:
    """Load every run of the dataset at ``folder`` into ``target`` (a store or a DuckDB path).

    Idempotent: a run the store already holds is skipped (``replace``: loaded again in its
    place), and so is a run exported while it was still running (``ImportResult.running``).
    Each run is one transaction, so it is there whole or not at all. Runs get the next free
    ``run_no`` of the target; ids (``run_id``, ``<tag>-<seq>`` event ids) stay as they were.
    A run whose files are missing or damaged does not stop the others: every other run is
    loaded, then a ``StoreError`` names the runs that were not and says how many were.
    Ctrl-C stops it with ``KeyboardInterrupt``, the run being loaded left out whole:
    importing again loads the rest.
    """
    folder = Path(folder)
    read_marker(folder)
    if not isinstance(target, Store):
        with open_store(target) as opened:
            return import_dataset(folder, opened, replace=replace, progress=progress)
    if target.read_only or target.dialect not in ("duckdb", "postgresql"):
        raise StoreError(
            f"cannot import into {target.where}: give a DuckDB file or a PostgreSQL URL, "
            "opened for writing (--db runs.duckdb)"
        )
    if isinstance(target, PostgresStore):
        return _import_into_postgres(folder, target, replace, progress)
    cursor = target.cursor()
    result = ImportResult()
    try:
        runs = _dataset_runs(cursor, folder, result)
        for done, run_id in enumerate(runs, start=1):
            try:
                _import_run(cursor, folder, run_id, replace, result)
            except StoreError as exc:
                result.failed.append((run_id, str(exc)))
            if progress is not None:
                progress(done, len(runs))
    finally:
        cursor.close()
    return _checked(result, folder)


def _checked(result: ImportResult, folder: Path) -> ImportResult:
    """``result``, or the error naming the runs that could not be imported."""
    if not result.failed:
        return result
    loaded = len(result.imported) + len(result.replaced)
    why = result.failed[0][1]
    others = len(result.failed) - 1
    more = f" ({others} more: {', '.join(r for r, _ in result.failed[1:])})" if others else ""
    raise StoreError(
        f"{why}{more}; the dataset's other runs were imported ({loaded} loaded, "
        f"{len(result.skipped)} already held): import again once they are exported again"
    )


def _import_into_postgres(
    folder: Path, target: PostgresStore, replace: bool, progress: Progress | None
) -> ImportResult:
    """The same import into a PostgreSQL store: each run's files read into Arrow and copied
    in with ``COPY``, one transaction per run."""
    from eventstore.store.postgres import connect
    from eventstore.store.postgres_writer import load_run

    result = ImportResult()
    with duckdb.connect() as reader:
        runs = _dataset_runs(reader, folder, result)
    conn = connect(target.conninfo, target.where)
    try:
        for done, run_id in enumerate(runs, start=1):
            try:
                tables = _run_tables(folder, run_id)
            except StoreError as exc:  # its files; the server's errors stop the import
                result.failed.append((run_id, str(exc)))
                continue
            try:
                replaced = load_run(conn, run_id, tables, replace=replace)
            except target.driver_errors as exc:
                raise StoreError(
                    f"importing run {run_id} from {folder} failed ({first_line(exc)}); nothing "
                    "of it was stored: export it again, or check that no other run in the store "
                    "has its tag"
                ) from None
            {None: result.skipped, False: result.imported, True: result.replaced}[replaced].append(
                run_id
            )
            if progress is not None:
                progress(done, len(runs))
    finally:
        conn.close()
    return _checked(result, folder)


def _run_tables(folder: Path, run_id: str) -> dict[str, pa.Table]:
    """One run's rows of every store table, read from its files (the store's columns only;
    ``run_no`` is the target's to give)."""
    tables = {}
    for kind, table in TABLES.items():
        path = run_file(folder, kind, run_id)
        if not path.is_file():
            raise StoreError(
                f"run {run_id} of {folder} is incomplete ({path} missing): export it again"
            )
        stored = metadata.tables[table].columns
        columns = [c.name for c in stored if c.name not in ("run_no", "run_id")]
        try:
            rows = pq.read_table(path, columns=columns)
        except (OSError, pa.ArrowException) as exc:
            raise StoreError(
                f"cannot read {path} ({first_line(exc)}): export the run again"
            ) from None
        if table == "runs":
            rows = rows.append_column("run_id", pa.array([run_id] * rows.num_rows, pa.string()))
        tables[table] = rows
    return tables


def _dataset_runs(
    cursor: duckdb.DuckDBPyConnection, folder: Path, result: ImportResult
) -> list[str]:
    """The runs of the dataset to import, by start; those still running when exported go to
    ``result.running`` instead."""
    if not any((folder / "runs").glob(PARTITIONS)):
        return []
    try:
        rows = cursor.execute(
            f"SELECT run_id, status FROM {scan(folder, 'runs')} ORDER BY started_at, run_id"
        ).fetchall()
    except duckdb.Error as exc:
        raise StoreError(f"cannot read the runs of {folder}: {first_line(exc)}") from None
    result.running.extend(str(run_id) for run_id, status in rows if status == "running")
    return [str(run_id) for run_id, status in rows if status != "running"]


def _import_run(
    cursor: duckdb.DuckDBPyConnection,
    folder: Path,
    run_id: str,
    replace: bool,
    result: ImportResult,
) -> None:
    files = {kind: run_file(folder, kind, run_id) for kind in TABLES}
    missing = [str(path) for path in files.values() if not path.is_file()]
    if missing:
        raise StoreError(
            f"run {run_id} of {folder} is incomplete ({', '.join(missing)} missing): "
            "export it again"
        )
    cursor.begin()
    try:
        row = cursor.execute("SELECT run_no FROM runs WHERE run_id = ?", [run_id]).fetchone()
        if row is not None and not replace:
            cursor.rollback()
            result.skipped.append(run_id)
            return
        if row is not None:
            run_no = int(row[0])
            delete_run(cursor, run_no)
        else:
            (last,) = cursor.execute("SELECT COALESCE(max(run_no), 0) FROM runs").fetchone() or (0,)
            run_no = int(last) + 1
        for kind, table in TABLES.items():
            columns = [c.name for c in metadata.tables[table].columns]
            values = ["$run_no" if c == "run_no" else "$run_id" if c == "run_id" else c
                      for c in columns]  # fmt: skip
            cursor.execute(
                f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(values)} "
                "FROM read_parquet($file)",
                {"run_no": run_no, "run_id": run_id, "file": str(files[kind])}
                if kind == "runs"
                else {"run_no": run_no, "file": str(files[kind])},
            )
        cursor.commit()
    except RuntimeError as exc:
        if not interrupted(exc):
            raise
        cursor.rollback()  # nothing of the run is stored: importing again loads it whole
        raise KeyboardInterrupt from None
    except duckdb.Error as exc:
        cursor.rollback()
        raise StoreError(
            f"importing run {run_id} from {folder} failed ({first_line(exc)}); nothing of it "
            "was stored: export it again, or check that no other run in the store has its tag"
        ) from None
    (result.replaced if row is not None else result.imported).append(run_id)
