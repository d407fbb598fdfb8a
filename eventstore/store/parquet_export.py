"""Exporting runs as a Parquet dataset (the layout is ``parquet.py``'s docstring): each run
written atomically, its ``runs`` file removed first and written last."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from eventstore.errors import OutputError, StoreError, first_line
from eventstore.interrupts import query_interrupted
from eventstore.store.dataset import (
    FORMAT,
    FORMAT_VERSION,
    MARKER,
    PART,
    DatasetStore,
    is_dataset,
    read_marker,
    run_file,
)
from eventstore.store.duckdb_store import DuckDBStore
from eventstore.store.persistence import Store
from eventstore.store.schema import SCHEMA_REVISION
from eventstore.store.store import open_store

ROW_GROUP_ROWS = 122_880
"""Rows per row group (DuckDB's own default): seq ranges prune to a row group or two."""

Progress = Callable[[int, int], None]

_ID = "r.tag || '-' || CAST({} AS VARCHAR)"
EVENT_VERSION = "1.0"
"""The ``version`` the ``events`` view gives every event (``migrations/versions/0002``: the only
one eventstore ever wrote): in the events files too, so a data lake reading them without our
views has every column the view has."""
_EXPORTS: dict[str, str] = {
    "runs": "SELECT * EXCLUDE (run_id, run_no) FROM runs AS r WHERE r.run_no = $run_no",
    "run_names": ("SELECT * EXCLUDE (run_no) FROM run_names WHERE run_no = $run_no ORDER BY code"),
    "events": f"""
        SELECT e.seq, {_ID.format("e.seq")} AS event_id, t.name AS event_type, s.name AS source,
               CASE WHEN e.causation_seq IS NOT NULL
                    THEN {_ID.format("e.causation_seq")} END AS causation_id,
               e.* EXCLUDE (run_no, seq), CAST('{EVENT_VERSION}' AS VARCHAR) AS version
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
        if not query_interrupted(exc):
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
