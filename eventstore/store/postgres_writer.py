"""Writes a run's batches into PostgreSQL's compact tables with ``COPY``, never row by row.

A server needs no segment files: each ``TraceBatch`` (10 000 events by default) goes in one
transaction, its Arrow tables turned into CSV by Arrow's C++ writer and streamed through
psycopg 3's ``COPY … FROM STDIN``, so every batch ``write_batch`` returned from is committed
(what a SIGKILL of the tracing process keeps). ``end_updates`` are copied into a temporary
table and applied with one ``UPDATE … FROM``, through the index on ``(run_no, seq)``.

The writer's session holds the advisory lock ``(RUN_LOCK, run_no)`` from the commit that makes
the run visible until the run ends or the session does: how other processes tell a live run
from a crashed one (``postgres.py``).
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from eventstore.errors import RunEndNotRecordedError, StoreError, first_line
from eventstore.store.bounds import exact_bounds
from eventstore.store.persistence import json_text, run_row
from eventstore.store.schema import RUN_TABLES
from eventstore.tracing.writer import RunInfo, RunStats, RunStatus, TraceBatch

if TYPE_CHECKING:
    import psycopg

RUN_LOCK = 0x45565354
"""The first key of every advisory lock eventstore takes (``EVST``), so its locks never meet
another application's; the second is the run's number (0: numbering a new run)."""

_INSERT_RUN = """
INSERT INTO runs (run_id, tag, name, status, started_at, config, sampling, library_version,
                  host, pid, run_no)
SELECT %(run_id)s, %(tag)s, %(name)s, 'running', %(started_at)s, CAST(%(config)s AS JSON),
       CAST(%(sampling)s AS JSON), %(library_version)s, %(host)s, %(pid)s,
       COALESCE(max(run_no), 0) + 1
FROM runs
RETURNING run_no
"""
_INSERT_NAMES = """
INSERT INTO run_names (run_no, code, name)
SELECT %(run_no)s, n.code, n.name
FROM unnest(CAST(%(codes)s AS INTEGER[]), CAST(%(names)s AS TEXT[])) AS n (code, name)
"""
_COPY = "COPY {table} ({columns}) FROM STDIN (FORMAT csv)"
_ENDS_TABLE = """
CREATE TEMPORARY TABLE IF NOT EXISTS _es_ends (seq BIGINT, end_seq BIGINT, emitted_ns BIGINT)
ON COMMIT DELETE ROWS
"""
# Several updates of one event fold into one: end_seq only grows, and emitted_ns is set once.
_UPDATE_ENDS = """
UPDATE run_events
SET end_seq = greatest(coalesce(run_events.end_seq, u.end_seq), u.end_seq),
    emitted_ns = coalesce(u.emitted_ns, run_events.emitted_ns)
FROM (SELECT seq, max(end_seq) AS end_seq, max(emitted_ns) AS emitted_ns
      FROM _es_ends GROUP BY seq) AS u
WHERE run_events.run_no = %(run_no)s AND run_events.seq = u.seq
"""
_RUN_LINEAGE = """
SELECT seq, causation_seq, root_seq, end_seq FROM run_events WHERE run_no = {run_no} ORDER BY seq
"""
_RUN_EDGES = "SELECT parent_seq, child_seq FROM run_edges WHERE run_no = {run_no}"
_BOUNDS_TABLE = """
CREATE TEMPORARY TABLE IF NOT EXISTS _es_bounds (seq BIGINT, root_seq BIGINT, end_seq BIGINT)
ON COMMIT DELETE ROWS
"""
_UPDATE_BOUNDS = """
UPDATE run_events SET root_seq = b.root_seq, end_seq = b.end_seq
FROM _es_bounds AS b
WHERE run_events.run_no = %(run_no)s AND run_events.seq = b.seq
"""
_END_RUN = """
UPDATE runs SET status = %(status)s, ended_at = %(ended_at)s, error = %(error)s,
    event_count = %(event_count)s, dropped_count = %(dropped_count)s,
    unencodable_count = %(unencodable_count)s, lineage_exact = %(lineage_exact)s,
    sampling = coalesce(CAST(%(sampling)s AS JSON), sampling)
WHERE run_id = %(run_id)s
"""


class PostgresBatchWriter:
    """One run's writer, on a psycopg connection of its own (closed with the writer)."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn
        self.run_no: int | None = None
        self._named = 0  # names[:_named] are stored

    def begin_run(self, run: RunInfo) -> None:
        import psycopg

        params = run_row(run)
        try:
            with self._conn.transaction(), self._conn.cursor() as cur:
                # Runs are numbered one at a time (max + 1); the run's own lock is taken
                # before the commit that makes it visible, so it is never seen unlocked.
                cur.execute("SELECT pg_advisory_xact_lock(%s, 0)", [RUN_LOCK])
                row = cur.execute(_INSERT_RUN, params).fetchone()
                assert row is not None
                self.run_no = int(row[0])
                cur.execute("SELECT pg_advisory_lock(%s, %s)", [RUN_LOCK, self.run_no])
        except psycopg.errors.UniqueViolation:
            raise StoreError(
                f"run {run.run_id!r} is already in this store: give each run its own "
                "correlation_id (or leave it unset to get a fresh one)"
            ) from None

    def write_batch(self, batch: TraceBatch) -> None:
        if self.run_no is None:
            raise StoreError(f"run {batch.run_id} was never begun: call begin_run first")
        run_no = self.run_no
        with self._conn.transaction(), self._conn.cursor() as cur:
            new_names = batch.names[self._named :]
            if new_names:
                cur.execute(
                    _INSERT_NAMES,
                    {
                        "run_no": run_no,
                        "codes": list(range(self._named, len(batch.names))),
                        "names": [_no_nul(name) for name in new_names],
                    },
                )
            _copy(cur, "run_events", _with_run_no(batch.events, run_no))
            _copy(cur, "run_edges", _with_run_no(batch.edges, run_no))
            _copy(cur, "run_deliveries", _with_run_no(batch.deliveries, run_no))
            if batch.end_updates.num_rows:
                cur.execute(_ENDS_TABLE)
                _copy(cur, "_es_ends", batch.end_updates)
                cur.execute(_UPDATE_ENDS, {"run_no": run_no})
        self._named = len(batch.names)

    def end_run(self, run_id: str, status: RunStatus, error: str | None, stats: RunStats) -> None:
        import psycopg

        try:
            with self._conn.transaction(), self._conn.cursor() as cur:
                exact = stats.lineage_exact or store_exact_bounds(cur, int(self.run_no or 0))
                cur.execute(
                    _END_RUN,
                    {
                        "status": status,
                        "ended_at": datetime.now(UTC).replace(tzinfo=None),
                        "error": None if error is None else _no_nul(error),
                        "event_count": stats.event_count,
                        "dropped_count": stats.dropped_count,
                        "unencodable_count": stats.unencodable_count,
                        "lineage_exact": exact,
                        "sampling": json_text(stats.sampling),
                        "run_id": run_id,
                    },
                )
            # Fresh statistics, so the planner knows the run's rows when it is queried next.
            self._conn.execute("ANALYZE run_events, run_edges, run_deliveries")
            self._conn.commit()
        except psycopg.Error as exc:
            reason = first_line(exc)
            raise RunEndNotRecordedError(
                f"run {run_id} ended {status} but that could not be recorded ({reason}): its "
                "committed batches are kept, and the next open marks it crashed",
                reason,
            ) from None

    def close(self) -> None:
        """Close the session, which gives back the run's lock."""
        self._conn.close()


def _with_run_no(table: pa.Table, run_no: int) -> pa.Table:
    column = pa.array(np.full(table.num_rows, run_no, dtype=np.int32))
    return _strings_without_nul(table.add_column(0, "run_no", column))


def _strings_without_nul(table: pa.Table) -> pa.Table:
    """PostgreSQL text can't hold NUL: a handler's error or a name with one gets U+FFFD there
    (payloads are JSON text, where NUL is always escaped)."""
    for index, field in enumerate(table.schema):
        if field.name != "payload" and pa.types.is_string(field.type):
            column = table.column(index)
            if pc.any(pc.match_substring(column, "\x00")).as_py():
                fixed = pc.replace_substring(column, "\x00", "\ufffd")
                table = table.set_column(index, field, fixed)
    return table


def _no_nul(text: str) -> str:
    return text.replace("\x00", "\ufffd")


def store_exact_bounds(cur: psycopg.Cursor[Any], run_no: int) -> bool:
    """Recompute run ``run_no``'s lineage bounds from what it stored (``bounds.py``) and store
    those that differ, in the caller's transaction; whether they are exact now."""
    events = _fetch(cur, _RUN_LINEAGE.format(run_no=int(run_no)))
    changed = exact_bounds(events, _fetch(cur, _RUN_EDGES.format(run_no=int(run_no))))
    if changed is None:
        return False
    if changed.num_rows:
        cur.execute(_BOUNDS_TABLE)
        _copy(cur, "_es_bounds", changed)
        cur.execute(_UPDATE_BOUNDS, {"run_no": run_no})
    return True


def _fetch(cur: psycopg.Cursor[Any], query: str) -> pa.Table:
    """The rows of ``query`` (integer columns only) through ``COPY … TO STDOUT``, read by
    Arrow's CSV reader: the way in reversed."""
    with cur.copy(f"COPY ({query}) TO STDOUT (FORMAT csv, HEADER)") as copy:
        data = b"".join(bytes(chunk) for chunk in copy)
    columns = data.split(b"\n", 1)[0].decode().split(",")
    types = pacsv.ConvertOptions(column_types=dict.fromkeys(columns, pa.int64()))
    return pacsv.read_csv(io.BytesIO(data), convert_options=types)


def _copy(cur: psycopg.Cursor[Any], table: str, rows: pa.Table) -> None:
    if not rows.num_rows:
        return
    buffer = io.BytesIO()
    pacsv.write_csv(rows, buffer, pacsv.WriteOptions(include_header=False))
    with cur.copy(_COPY.format(table=table, columns=", ".join(rows.column_names))) as copy:
        copy.write(buffer.getbuffer())


def load_run(
    conn: psycopg.Connection[Any], run_id: str, tables: dict[str, pa.Table], *, replace: bool
) -> bool | None:
    """Store one whole run in one transaction (an import): ``tables`` maps each store table
    to its rows without ``run_no`` (``runs`` with its ``run_id``); the run gets the next free
    number. None: the store holds the run and ``replace`` is off (nothing written); else
    whether it replaced the run in place."""
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s, 0)", [RUN_LOCK])  # numbering, as runs do
        row = cur.execute("SELECT run_no FROM runs WHERE run_id = %s", [run_id]).fetchone()
        if row is not None and not replace:
            return None
        if row is not None:
            run_no = int(row[0])
            for table in RUN_TABLES:
                cur.execute(f"DELETE FROM {table} WHERE run_no = %s", [run_no])
        else:
            (last,) = cur.execute("SELECT COALESCE(max(run_no), 0) FROM runs").fetchone() or (0,)
            run_no = int(last) + 1
        for table, rows in tables.items():
            _copy(cur, table, _with_run_no(rows, run_no))
    conn.execute("ANALYZE run_events, run_edges, run_deliveries")
    conn.commit()
    return row is not None
