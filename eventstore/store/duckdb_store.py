"""The embedded backend: a run store in one DuckDB file (the default, nothing to start).

The store owns one DuckDB database instance per process; ``engine`` (SQLAlchemy) and
``cursor()`` (native DuckDB, which hands Arrow over without copies) are connections to that
same instance. Every driver failure on the way in becomes one of our errors naming the problem
and the fix (``duckdb_files.py``).

Liveness: DuckDB lets one process write a file and nobody else open it meanwhile, so whoever
holds the file for writing knows that every ``running`` run of another process is dead. Runs
of this process are alive while their writer is open (``duckdb_writer.live_runs``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pyarrow as pa
import sqlalchemy as sa
from duckdb_engine import ConnectionWrapper
from sqlalchemy.pool import NullPool

from eventstore.errors import StoreError
from eventstore.store.duckdb_files import check_path, connect
from eventstore.store.duckdb_memory import MemoryCap
from eventstore.store.duckdb_spill import remove_stale_spill
from eventstore.store.duckdb_writer import live_runs, run_no_of, store_exact_bounds
from eventstore.store.persistence import Params, Record, Store, bound, check_schema
from eventstore.store.segments import runs_with_segments, segments_root
from eventstore.tracing.writer import BatchWriter

logger = logging.getLogger(__name__)

T = TypeVar("T")
U = TypeVar("U")


class DuckDBStore(Store):
    """A run store in a DuckDB file (or in memory)."""

    dialect = "duckdb"

    def __init__(self, path: Path, duck: duckdb.DuckDBPyConnection, read_only: bool) -> None:
        engine = sa.create_engine(
            "duckdb://", creator=lambda: ConnectionWrapper(duck.cursor()), poolclass=NullPool
        )
        super().__init__(f"duckdb:///{path}", engine, read_only)
        self._file = None if str(path) == ":memory:" else path
        self._duck: duckdb.DuckDBPyConnection | None = duck
        self._cap: MemoryCap | None = None

    @property
    def path(self) -> Path | None:
        return self._file

    @property
    def frozen(self) -> bool:
        """A file opened read-only: DuckDB lets no process write it while one has it open."""
        return self.read_only and self._file is not None

    @property
    def driver_errors(self) -> tuple[type[BaseException], ...]:
        return (duckdb.Error,)

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A native DuckDB connection to this store (close it when done)."""
        if self._duck is None:
            raise StoreError(f"{self.where} is closed: open it again with open_store")
        return self._duck.cursor()

    def cap_memory(self, limit: str) -> None:
        """Cap DuckDB's memory at ``limit`` (``duckdb_memory.py``): done once the store is
        open, so opening (migrations, recovering crashed runs) runs as before."""
        if self._duck is not None:
            private = self.read_only or self._file is None
            self._cap = MemoryCap(self._duck, limit, private_spill=private)

    def _once_more_uncapped(self, run: Callable[[], T]) -> T:
        """``run()``, once more uncapped if the cap was too little (``MemoryCap.run``)."""
        if self._cap is None or self._duck is None:
            return run()
        return self._cap.run(self._duck, run)

    def _streamed_once_more_uncapped(self, stream: Callable[[], Iterator[U]]) -> Iterator[U]:
        """The items of ``stream()``, as ``MemoryCap.stream`` gives them."""
        if self._cap is None or self._duck is None:
            return stream()
        return self._cap.stream(self._duck, stream)

    def fetch_arrow(self, sql: str, params: Params | None = None) -> pa.Table:
        text, values = _duckdb_form(sql, params)
        return self._once_more_uncapped(lambda: self._arrow(text, values))

    def _arrow(self, text: str, values: dict[str, Any] | None) -> pa.Table:
        cursor = self.cursor()
        try:
            relation = cursor.sql(text, params=values)
            if relation is None:  # a statement with no result
                return pa.table({})
            return relation.to_arrow_table()
        finally:
            cursor.close()

    def fetch_records(self, sql: str, params: Params | None = None) -> list[Record]:
        """Read through the DB-API cursor, not an Arrow relation: a relation binds and plans
        its query twice (once to learn its columns, once to run it), which costs about as much
        as running a five-row lineage query."""
        text, values = _duckdb_form(sql, params)
        return self._once_more_uncapped(lambda: self._records(text, values))

    def _records(self, text: str, values: dict[str, Any] | None) -> list[Record]:
        cursor = self.cursor()
        try:
            cursor.execute(text, values)
            columns = [d[0] for d in cursor.description or ()]
            return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
        finally:
            cursor.close()

    def stream_records(
        self, sql: str, params: Params | None = None, *, batch_size: int = 50_000
    ) -> Iterator[list[Record]]:
        for batch in self.stream_arrow(sql, params, batch_size=batch_size):
            if batch.num_rows:
                yield batch.to_pylist()

    def stream_arrow(
        self, sql: str, params: Params | None = None, *, batch_size: int = 50_000
    ) -> Iterator[pa.RecordBatch]:
        text, values = _duckdb_form(sql, params)
        yield from self._streamed_once_more_uncapped(
            lambda: self._batches(text, values, batch_size)
        )

    def _batches(
        self, text: str, values: dict[str, Any] | None, batch_size: int
    ) -> Iterator[pa.RecordBatch]:
        cursor = self.cursor()
        try:
            relation = cursor.sql(text, params=values)
            if relation is None:  # a statement with no result
                yield pa.RecordBatch.from_pylist([])
                return
            reader = relation.to_arrow_reader(batch_size)
            first = True
            for batch in reader:
                if batch.num_rows or first:
                    yield batch
                first = False
            if first:
                yield pa.RecordBatch.from_pylist([], schema=reader.schema)
        finally:
            cursor.close()

    def batch_writer(self) -> BatchWriter:
        self._refuse_read_only()
        from eventstore.store.bulk_writer import BulkDuckDBWriter

        path = self.path
        return BulkDuckDBWriter(self.cursor(), None if path is None else segments_root(path))

    def mark_crashed_runs(self) -> int:
        """Load the segments of runs left ``running`` by a writer that is gone, then mark them
        ``crashed`` with the number of events stored; store the runs a dead sweep left in its
        spool."""
        _recover_sweeps(self)
        dead = _dead_runs(self)
        leftover = _leftover_runs(self)
        if self.path is not None and (dead or leftover):
            from eventstore.store.bulk_writer import recover_runs

            root = segments_root(self.path)
            recovered = recover_runs(self.cursor(), root, dead + leftover)
            if recovered:
                logger.warning(
                    "loaded %d event(s) of ended or crashed runs from segments", recovered
                )
        exact = {run_id: _recompute_bounds(self, run_id) for run_id in dead}
        with self.connect() as conn:
            for run_id in leftover:
                conn.execute(sa.text(_RECOUNT), {"run_id": run_id})
            for run_id in dead:
                conn.execute(
                    sa.text(_MARK_CRASHED),
                    {
                        "run_id": run_id,
                        "error": "the tracing process ended without closing the run",
                        "exact": exact[run_id],
                    },
                )
            conn.commit()
        if dead:
            logger.warning("marked %d run(s) crashed: %s", len(dead), ", ".join(dead))
        return len(dead)

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self._duck is not None:
                self._duck.close()
                self._duck = None


_RECOUNT = (
    "UPDATE runs SET event_count = "
    "(SELECT count(*) FROM run_events AS e WHERE e.run_no = runs.run_no) WHERE run_id = :run_id"
)
_MARK_CRASHED = (
    "UPDATE runs SET status = 'crashed', error = :error, lineage_exact = :exact, event_count = "
    "(SELECT count(*) FROM run_events AS e WHERE e.run_no = runs.run_no) WHERE run_id = :run_id"
)


def _recompute_bounds(store: DuckDBStore, run_id: str) -> bool:
    """Whether a crashed run's lineage bounds are exact, once recomputed from what it stored:
    the recorder's word on them died with its process."""
    cursor = store.cursor()
    try:
        run_no = run_no_of(cursor, run_id)
        if run_no is None:
            return False
        return store_exact_bounds(cursor, run_no)
    except duckdb.Error as exc:  # then queries just don't prune the run
        logger.warning("cannot recompute the lineage bounds of run %s: %s", run_id, exc)
        return False
    finally:
        cursor.close()


def _duckdb_form(sql: str, params: Params | None) -> tuple[str, dict[str, Any] | None]:
    """DuckDB spells named parameters ``$name``."""
    if params is None:
        return sql, None
    return bound(sql, params, r"$\1")


def _recover_sweeps(store: DuckDBStore) -> None:
    if store.path is None:
        return
    from eventstore.store.spool import recover_spools, spool_parent

    loaded = recover_spools(store, spool_parent(store.path))
    if loaded:
        logger.warning(
            "stored %d run(s) a sweep left in %s when its process died",
            len(loaded),
            spool_parent(store.path),
        )


def _dead_runs(store: DuckDBStore) -> list[str]:
    """The runs left ``running`` by a writer that is gone: any but this process's open ones
    (while this process has the file, no other process can be writing it)."""
    with store.connect() as conn:
        running = conn.execute(sa.text("SELECT run_id FROM runs WHERE status = 'running'")).all()
    alive = live_runs()
    return [run_id for (run_id,) in running if run_id not in alive]


def _leftover_runs(store: DuckDBStore) -> list[str]:
    """Runs that ended but left segment files (a crash or a failure between a load and the
    deletion of its segment): nobody writes them, so the next open loads them again."""
    if store.path is None:
        return []
    with_segments = runs_with_segments(segments_root(store.path))
    if not with_segments:
        return []
    with store.connect() as conn:
        running = {
            run_id
            for (run_id,) in conn.execute(
                sa.text("SELECT run_id FROM runs WHERE status = 'running'")
            )
        }
    return [run_id for run_id in with_segments if run_id not in running]


def open_duckdb(
    path: Path,
    read_only: bool,
    wait: float,
    mark: bool = True,
    memory_limit: str | None = None,
) -> DuckDBStore:
    """Open (creating and upgrading unless ``read_only``) the DuckDB run store at ``path``,
    capped at ``memory_limit`` once open (None: DuckDB's own limit). Opened read-write, it
    first removes the spill folder a killed process left (``duckdb_spill.py``).

    If another process holds the file, wait up to ``wait`` seconds for it to let go, then
    raise ``StoreLockedError`` naming that process.
    """
    memory = str(path) == ":memory:"
    if not memory:
        check_path(path, read_only)
    store = DuckDBStore(
        path, connect(path, read_only and not memory, wait), read_only and not memory
    )
    try:
        if not store.read_only and not memory:
            remove_stale_spill(path)  # before recovery, which may spill there itself
        check_schema(store)
        if not store.read_only:
            store.mark_crashed_runs()
        stale = (
            store.read_only
            and mark
            and bool(_dead_runs(store) or _leftover_runs(store) or _orphaned(path))
        )
        if memory_limit is not None and not stale:
            store.cap_memory(memory_limit)
    except BaseException:
        store.close()
        raise
    if not stale:
        return store
    # Runs of a process that died are recovered from their segments and marked crashed by the
    # next write-mode open; a reader (`eventstore runs` right after a kill) is often that next
    # open, so it does it first.
    store.close()
    try:
        open_duckdb(path, False, wait).close()
    except StoreError as exc:
        logger.warning("cannot mark crashed runs in %s (%s): showing them as running", path, exc)
    return open_duckdb(path, True, wait, mark=False, memory_limit=memory_limit)


def _orphaned(path: Path) -> bool:
    """Whether a dead sweep left runs beside the database at ``path``."""
    from eventstore.store.spool import has_recoverable_spools, spool_parent

    return has_recoverable_spools(spool_parent(path))
