"""Importing a Parquet dataset (``parquet.py`` describes them) into a DuckDB or PostgreSQL store:
each run in one transaction, renumbered for the target, every id kept."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from eventstore.errors import StoreError, first_line
from eventstore.interrupts import query_interrupted
from eventstore.store.dataset import (
    PARTITIONS,
    TABLES,
    read_marker,
    run_file,
    scan,
)
from eventstore.store.duckdb_writer import delete_run
from eventstore.store.parquet_export import Progress
from eventstore.store.persistence import Store
from eventstore.store.postgres import PostgresStore
from eventstore.store.schema import metadata
from eventstore.store.store import open_store


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
        if not query_interrupted(exc):
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
