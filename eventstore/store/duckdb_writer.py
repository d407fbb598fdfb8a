"""Writes a run's batches into DuckDB: each batch is one transaction of ``INSERT … SELECT``
from Arrow tables, never row by row. Ids are derived in SQL from the run tag and seq."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import duckdb
import orjson
import pyarrow as pa

from eventstore.errors import StoreError
from eventstore.tracing.traced_event import EVENT_SCHEMA_VERSION
from eventstore.tracing.writer import RunInfo, RunStats, RunStatus, TraceBatch

_INSERT_EVENTS = """
INSERT INTO events (run_id, seq, event_id, event_type, sim_time, source, causation_id,
                    root_seq, end_seq, created_ns, emitted_ns, payload, partition_key, version)
SELECT $run_id, seq, $prefix || seq, t.name, sim_time, s.name,
       CASE WHEN causation_seq IS NULL THEN NULL ELSE $prefix || causation_seq END,
       root_seq, end_seq, created_ns, emitted_ns, payload, partition_key, $version
FROM _es_events e
JOIN _es_names t ON t.code = e.type_code
LEFT JOIN _es_names s ON s.code = e.source_code
ORDER BY seq
"""
_INSERT_EDGES = """
INSERT INTO lineage_edges (run_id, parent_id, child_id, kind, parent_seq, child_seq)
SELECT $run_id, $prefix || parent_seq, $prefix || child_seq, k.name, parent_seq, child_seq
FROM _es_edges e JOIN _es_names k ON k.code = e.kind_code
"""
_INSERT_DELIVERIES = """
INSERT INTO deliveries (run_id, event_id, seq, handler, received_ns, processed_ns, error)
SELECT $run_id, $prefix || seq, seq, h.name, received_ns, processed_ns, error
FROM _es_deliveries d JOIN _es_names h ON h.code = d.handler_code
"""
_UPDATE_ENDS = """
UPDATE events SET end_seq = greatest(coalesce(events.end_seq, u.end_seq), u.end_seq),
                  emitted_ns = coalesce(u.emitted_ns, events.emitted_ns)
FROM _es_ends AS u
WHERE events.run_id = $run_id AND events.seq = u.seq
  AND events.seq BETWEEN $low AND $high
"""


TRACING_MEMORY_LIMIT = "64MB"
"""DuckDB's buffer cache while a run is written: without a limit it keeps every block it wrote
(up to 80% of RAM), so a long traced run would grow the process by the size of its trace."""


class DuckDBBatchWriter:
    """One run's writer, on its own cursor of the store's DuckDB instance."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con
        self._memory_limit: str | None = None

    def begin_run(self, run: RunInfo) -> None:
        (self._memory_limit,) = self._con.execute(
            "SELECT current_setting('memory_limit')"
        ).fetchone() or (None,)
        self._con.execute(f"SET memory_limit = '{TRACING_MEMORY_LIMIT}'")
        try:
            self._con.execute(
                "INSERT INTO runs (run_id, tag, name, status, started_at, config, "
                "library_version, host, pid) VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?)",
                [
                    run.run_id,
                    run.tag,
                    run.name,
                    run.started_at,
                    orjson.dumps(run.config, option=orjson.OPT_NON_STR_KEYS).decode(),
                    run.library_version,
                    run.host,
                    run.pid,
                ],
            )
        except duckdb.ConstraintException:
            raise StoreError(
                f"run {run.run_id!r} is already in this store: give each run its own "
                "correlation_id (or leave it unset to get a fresh one)"
            ) from None

    def write_batch(self, batch: TraceBatch) -> None:
        con = self._con
        params = {"run_id": batch.run_id, "prefix": f"{batch.tag}-"}
        con.begin()
        try:
            con.register("_es_events", batch.events)
            con.register("_es_edges", batch.edges)
            con.register("_es_deliveries", batch.deliveries)
            con.register(
                "_es_names",
                pa.table({"code": range(len(batch.names)), "name": list(batch.names)}),
            )
            con.execute(_INSERT_EVENTS, {**params, "version": EVENT_SCHEMA_VERSION})
            if batch.edges.num_rows:
                con.execute(_INSERT_EDGES, params)
            if batch.deliveries.num_rows:
                con.execute(_INSERT_DELIVERIES, params)
            updates = batch.end_updates
            if updates.num_rows:
                con.register("_es_ends", updates)
                seqs = updates.column("seq").to_pylist()
                con.execute(
                    _UPDATE_ENDS, {"run_id": batch.run_id, "low": min(seqs), "high": max(seqs)}
                )
            con.commit()
        except BaseException:
            # A failed COMMIT (e.g. the disk is full) has already ended the transaction: a
            # second error from ROLLBACK must not hide the one that says what went wrong.
            with contextlib.suppress(duckdb.Error):
                con.rollback()
            raise
        finally:
            for name in ("_es_events", "_es_edges", "_es_deliveries", "_es_ends", "_es_names"):
                con.unregister(name)

    def end_run(self, run_id: str, status: RunStatus, error: str | None, stats: RunStats) -> None:
        try:
            self._con.execute(
                "UPDATE runs SET status = ?, ended_at = ?, error = ?, event_count = ?, "
                "dropped_count = ?, unencodable_count = ?, lineage_exact = ? WHERE run_id = ?",
                [
                    status,
                    datetime.now(UTC).replace(tzinfo=None),
                    error,
                    stats.event_count,
                    stats.dropped_count,
                    stats.unencodable_count,
                    stats.lineage_exact,
                    run_id,
                ],
            )
        except duckdb.Error as exc:
            raise StoreError(
                f"run {run_id} ended {status} but that could not be recorded ({exc}): its "
                "committed batches are kept, and the next open marks it crashed"
            ) from None

    def close(self) -> None:
        try:
            if self._memory_limit is not None:
                self._con.execute(f"SET memory_limit = '{self._memory_limit}'")
        finally:
            self._con.close()
