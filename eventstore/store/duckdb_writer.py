"""Writes a run's batches into DuckDB's compact tables: each batch is one transaction of
``INSERT … SELECT`` from Arrow tables, never row by row.

Rows go in as the tracer coded them: integer seqs and small-integer name codes, keyed by the
run's number (``runs.run_no``, assigned by ``begin_run``); names are stored once per run in
``run_names``. ``insert_tables`` is the one step that puts Arrow tables of a run into the store,
so whatever decides *when* to load (a batch, a segment file, a crashed run's leftovers) calls it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from eventstore.errors import StoreError
from eventstore.store.bounds import exact_bounds
from eventstore.store.persistence import json_text, run_row
from eventstore.store.schema import RUN_TABLES
from eventstore.tracing.writer import RunInfo, RunStats, RunStatus, TraceBatch

_INSERT_RUN = """
INSERT INTO runs (run_id, tag, name, status, started_at, config, sampling, library_version,
                  host, pid, run_no)
SELECT $run_id, $tag, $name, 'running', $started_at, $config, $sampling, $library_version,
       $host, $pid, COALESCE(max(run_no), 0) + 1
FROM runs
RETURNING run_no
"""
# One statement list per load, with the run's number (an int) in the text: a load then crosses
# into DuckDB once, not once per table. Each crossing from a loading thread waits for the GIL,
# up to the interpreter's 5 ms switch interval while the publishing thread is busy.
_INSERT_NAMES = """
INSERT INTO run_names (run_no, code, name)
SELECT {run_no}, n.code, n.name
FROM _es_names AS n
WHERE n.code NOT IN (SELECT code FROM run_names WHERE run_no = {run_no})
"""
# Rows come in seq order (the recorder numbers them so, hand-offs keep it): ``ORDER BY`` is
# added only when a table is not, as sorting the payloads costs 40 % of the insert.
_INSERT_EVENTS = """
INSERT INTO run_events (run_no, seq, type_code, sim_time, source_code, causation_seq, root_seq,
                        end_seq, created_ns, emitted_ns, payload, partition_key)
SELECT {run_no}, seq, type_code, sim_time, source_code, causation_seq, root_seq, end_seq,
       created_ns, emitted_ns, payload, partition_key
FROM _es_events
"""
_INSERT_EDGES = """
INSERT INTO run_edges (run_no, parent_seq, child_seq, kind_code)
SELECT {run_no}, parent_seq, child_seq, kind_code FROM _es_edges
"""
_INSERT_DELIVERIES = """
INSERT INTO run_deliveries (run_no, seq, handler_code, received_ns, processed_ns, self_ns, error)
SELECT {run_no}, seq, handler_code, received_ns, processed_ns, self_ns, error FROM _es_deliveries
"""
# Several updates of one event (tables of many batches loaded together) fold into one: end_seq
# only grows, and emitted_ns is set once (the first handler's start), so max picks it.
_UPDATE_ENDS = """
UPDATE run_events
SET end_seq = greatest(coalesce(run_events.end_seq, u.end_seq), u.end_seq),
    emitted_ns = coalesce(u.emitted_ns, run_events.emitted_ns)
FROM (SELECT seq, max(end_seq) AS end_seq, max(emitted_ns) AS emitted_ns
      FROM _es_ends GROUP BY seq) AS u
WHERE run_events.run_no = {run_no} AND run_events.seq = u.seq
  AND run_events.seq BETWEEN {low} AND {high}
"""

_RUN_LINEAGE = """
SELECT seq, causation_seq, root_seq, end_seq FROM run_events WHERE run_no = $1 ORDER BY seq
"""
_RUN_EDGES = "SELECT parent_seq, child_seq FROM run_edges WHERE run_no = $1"
_UPDATE_BOUNDS = """
UPDATE run_events SET root_seq = b.root_seq, end_seq = b.end_seq
FROM _es_bounds AS b
WHERE run_events.run_no = $1 AND run_events.seq = b.seq
"""

TRACING_MEMORY_LIMIT = "64MB"
"""DuckDB's buffer cache while a run is written: without a limit it keeps every block it wrote
(up to 80% of RAM), so a long traced run would grow the process by the size of its trace."""


@contextlib.contextmanager
def uncapped(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """DuckDB's own memory limit while the block runs, the limit found put back after: for a
    load that outgrows ``TRACING_MEMORY_LIMIT`` (a batch holding a payload of tens of MB), as
    a query of ours that runs out of memory under the read cap is run again uncapped."""
    (limit,) = con.execute("SELECT current_setting('memory_limit')").fetchone() or (None,)
    con.execute("RESET memory_limit")
    try:
        yield
    finally:
        if limit is not None:
            con.execute("SET memory_limit = ?", [limit])


RELEASE_ABOVE = 16 * 2**20
"""Bytes DuckDB may hold after a load before ``release_cached_blocks`` has it drop them."""
_EVICTING_LIMIT = "1MB"


def release_cached_blocks(con: duckdb.DuckDBPyConnection) -> None:
    """Make DuckDB drop the blocks it keeps once they pass ``RELEASE_ABOVE``: lowering its
    memory limit evicts them (to the file, or to its temporary directory if not checkpointed
    yet), and the limit goes back to ``TRACING_MEMORY_LIMIT`` at once. Nothing of a run reads
    them again while it goes, and without this a long run ends up holding the whole limit
    (measured tracing 5 000 000 events, ``bench_tracing.py``: RSS growth +42-62 MB, +19-35 MB
    with it). Below the threshold they stay: a short run would pay to read back at its last
    commit what was evicted (+0.18 µs/event on a 100 000-event run). If the eviction cannot
    happen (memory in use), nothing changes. The limit is the database's: a query
    another thread of this process runs on the same store in that instant (about a
    millisecond) is held to it too."""
    with contextlib.suppress(duckdb.Error):  # never fails a load that is done
        (held,) = con.execute(
            "SELECT coalesce(sum(memory_usage_bytes), 0) FROM duckdb_memory()"
        ).fetchall()[0]
        if held > RELEASE_ABOVE:
            try:
                con.execute(f"SET memory_limit = '{_EVICTING_LIMIT}'")
            finally:
                con.execute(f"SET memory_limit = '{TRACING_MEMORY_LIMIT}'")


_LIVE_RUNS: set[str] = set()
_LIVE_LOCK = threading.Lock()


def live_runs() -> frozenset[str]:
    """The runs a writer of this process has begun and not closed: alive whatever their
    status says. DuckDB's file lock makes every other process's ``running`` run a dead one."""
    with _LIVE_LOCK:
        return frozenset(_LIVE_RUNS)


def names_table(names: Sequence[str]) -> pa.Table:
    """``TraceBatch.names`` as a (code, name) table: a name's code is its index."""
    return pa.table(
        {"code": pa.array(range(len(names)), pa.int32()), "name": pa.array(names, pa.string())}
    )


_JSON = pa.json_(pa.string()) if hasattr(pa, "json_") else None  # pyarrow >= 19


def _typed_as_json(events: pa.Table) -> pa.Table:
    """``events`` with its payloads typed as Arrow's JSON extension, which DuckDB takes as its
    JSON type as is: a plain string would be parsed to validate it on the way in, and the
    encoder only writes valid JSON. Zero-copy; saves a tenth of the events insert (the demo
    backtest's 159 068 events: 139 ms, 124 ms with the type)."""
    index = events.schema.get_field_index("payload")
    payloads = events.column(index)
    if _JSON is None or payloads.type != pa.string():
        return events
    chunks = [pa.ExtensionArray.from_storage(_JSON, chunk) for chunk in payloads.chunks]
    return events.set_column(index, pa.field("payload", _JSON), pa.chunked_array(chunks, _JSON))


def insert_tables(
    con: duckdb.DuckDBPyConnection,
    run_no: int,
    *,
    names: Sequence[str],
    events: pa.Table,
    edges: pa.Table,
    deliveries: pa.Table,
    end_updates: pa.Table,
    commit: bool = False,
) -> None:
    """Insert Arrow tables of run ``run_no`` (the ``TraceBatch`` schemas): names not stored
    yet, events, edges, deliveries, then ``end_updates`` applied to events already stored or
    just inserted. Idempotent for names only. In the caller's transaction, or with ``commit``
    in one of its own: all of it is stored, or none of it."""
    statements = [_INSERT_NAMES]
    if events.num_rows:
        seqs = events.column("seq")
        in_order = pc.all(pc.greater(seqs[1:], seqs[:-1])).as_py() is not False
        statements.append(_INSERT_EVENTS + ("" if in_order else "ORDER BY seq"))
    if edges.num_rows:
        statements.append(_INSERT_EDGES)
    if deliveries.num_rows:
        statements.append(_INSERT_DELIVERIES)
    low = high = 0
    if end_updates.num_rows:
        low, high = (v.as_py() for v in pc.min_max(end_updates.column("seq")).values())
        statements.append(_UPDATE_ENDS)
    if commit:
        statements.insert(0, "BEGIN TRANSACTION")
    script = ";\n".join(statements).format(run_no=int(run_no), low=int(low), high=int(high))
    views = {
        "_es_names": names_table(names),
        "_es_events": _typed_as_json(events),
        "_es_edges": edges,
        "_es_deliveries": deliveries,
        "_es_ends": end_updates,
    }
    for name, table in views.items():
        con.register(name, table)
    try:
        con.execute(script)
        if commit:
            con.commit()
    except BaseException:
        if commit:
            # A failed COMMIT (e.g. the disk is full) has already ended the transaction: a
            # second error from ROLLBACK must not hide the one that says what went wrong.
            with contextlib.suppress(duckdb.Error):
                con.rollback()
        raise
    finally:
        for name in views:
            con.unregister(name)


def store_exact_bounds(con: duckdb.DuckDBPyConnection, run_no: int | None) -> bool:
    """Recompute run ``run_no``'s lineage bounds from what it stored (``bounds.py``) and store
    those that differ, in a transaction of its own; whether they are exact now."""
    params = [run_no]
    con.begin()
    try:
        events = con.sql(_RUN_LINEAGE, params=params).to_arrow_table()
        changed = exact_bounds(events, con.sql(_RUN_EDGES, params=params).to_arrow_table())
        if changed is not None and changed.num_rows:
            con.register("_es_bounds", changed)
            try:
                con.execute(_UPDATE_BOUNDS, params)
            finally:
                con.unregister("_es_bounds")
        con.commit()
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            con.rollback()
        raise
    return changed is not None


def run_no_of(con: duckdb.DuckDBPyConnection, run_id: str) -> int | None:
    """The number of run ``run_id``, or None if the store does not hold it."""
    row = con.execute("SELECT run_no FROM runs WHERE run_id = ?", [run_id]).fetchone()
    return None if row is None else int(row[0])


def delete_run(con: duckdb.DuckDBPyConnection, run_no: int) -> None:
    """Delete every row of run ``run_no``, inside the caller's transaction."""
    for table in RUN_TABLES:
        con.execute(f"DELETE FROM {table} WHERE run_no = ?", [run_no])


class DuckDBBatchWriter:
    """One run's writer, on its own cursor of the store's DuckDB instance."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con
        self._memory_limit: str | None = None
        self._run_id: str | None = None
        self.run_no: int | None = None

    def begin_run(self, run: RunInfo) -> None:
        self.run_no = self._insert_run(run)  # first: a run refused changes no setting
        (self._memory_limit,) = self._con.execute(
            "SELECT current_setting('memory_limit')"
        ).fetchone() or (None,)
        self._con.execute(f"SET memory_limit = '{TRACING_MEMORY_LIMIT}'")
        self._run_id = run.run_id
        with _LIVE_LOCK:
            _LIVE_RUNS.add(run.run_id)

    def _insert_run(self, run: RunInfo) -> int:
        params = run_row(run)
        # Two runs starting at once in one process may draw the same number: the loser's
        # insert conflicts and draws again.
        for _ in range(20):
            try:
                row = self._con.execute(_INSERT_RUN, params).fetchone()
                assert row is not None
                return int(row[0])
            except (duckdb.ConstraintException, duckdb.TransactionException) as exc:
                taken = self._con.execute(
                    "SELECT count(*) FROM runs WHERE run_id = ? OR tag = ?", [run.run_id, run.tag]
                ).fetchone()
                if taken and taken[0]:
                    raise StoreError(
                        f"run {run.run_id!r} is already in this store: give each run its own "
                        "correlation_id (or leave it unset to get a fresh one)"
                    ) from None
                error = exc
        raise StoreError(f"could not number run {run.run_id} ({error}): start it again")

    def write_batch(self, batch: TraceBatch) -> None:
        if self.run_no is None:
            raise StoreError(f"run {batch.run_id} was never begun: call begin_run first")
        insert_tables(
            self._con,
            self.run_no,
            names=batch.names,
            events=batch.events,
            edges=batch.edges,
            deliveries=batch.deliveries,
            end_updates=batch.end_updates,
            commit=True,
        )

    def end_run(self, run_id: str, status: RunStatus, error: str | None, stats: RunStats) -> None:
        try:
            # before the end is recorded: a crash between leaves a run recomputed again
            exact = stats.lineage_exact or store_exact_bounds(self._con, self.run_no)
            self._con.execute(
                "UPDATE runs SET status = ?, ended_at = ?, error = ?, event_count = ?, "
                "dropped_count = ?, unencodable_count = ?, lineage_exact = ?, "
                "sampling = coalesce(?, sampling) WHERE run_id = ?",
                [
                    status,
                    datetime.now(UTC).replace(tzinfo=None),
                    error,
                    stats.event_count,
                    stats.dropped_count,
                    stats.unencodable_count,
                    exact,
                    json_text(stats.sampling),
                    run_id,
                ],
            )
        except duckdb.Error as exc:
            raise StoreError(
                f"run {run_id} ended {status} but that could not be recorded ({exc}): its "
                "committed batches are kept, and the next open marks it crashed"
            ) from None

    def close(self) -> None:
        with _LIVE_LOCK:
            _LIVE_RUNS.discard(self._run_id or "")
        try:
            if self._memory_limit is not None:
                self._con.execute(f"SET memory_limit = '{self._memory_limit}'")
        finally:
            self._con.close()
