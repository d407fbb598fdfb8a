"""The DuckDB writer: batches go to segment files at once and into DuckDB in large loads.

DuckDB's insert cost is per transaction, not per row (measured: 2.5 µs/row in 10 000-row
transactions, 0.64 µs/row in 200 000-row ones, 0.31 µs/row as one bulk insert), while appending
a batch to an Arrow IPC segment costs about 0.06 µs/row. So ``write_batch`` appends to the
run's current segment (``segments.py``) and returns; once ``load_rows`` events are pending the
segment is loaded in one transaction and deleted, and ``end_run`` loads the rest with the run's
end. Memory stays bounded by one segment (read back memory-mapped, zero-copy).

**Durability promise** (the README's "Reliability" section says the same):

- *SIGKILL* (or any death of the process): every batch ``write_batch`` returned from is kept;
  the next read-write open (or a read-only one, which opens for writing briefly to do it) loads
  the segments of runs whose process is gone and marks them ``crashed`` with their event count.
  Lost: what the tracer had not handed to the writer yet: while the writer keeps up, about
  ``batch_size`` events (10 000) or the last ``flush_interval`` seconds (1 s, background
  writer), whichever is fewer; when it falls behind, never more than about
  ``(max_pending_batches + 2) * batch_size`` events (60 000 with the defaults). A batch is
  recovered whole or not at all, and exactly once.
- *Power loss or OS crash*: additionally what was appended since the segment's last fsync,
  at most ``fsync_interval`` seconds (1 s) of appends (recovery loads the longest run of whole
  batches whose bytes match their CRC); loaded segments are as durable as DuckDB's commits.
- *Disk full* (or any write error): the batch that failed is not kept; ``write_batch`` raises,
  the tracer ends the run ``failed`` naming the error, and every batch before it is kept. If
  even the end cannot be written, the run's segments stay on disk and the next open loads them
  and marks the run ``crashed``.

Loads are idempotent: a crash between a load's commit and its segment's deletion leaves a
segment whose rows are already stored, so recovery first deletes what that segment holds (its
seq range, and its deliveries by identity) in the same transaction that loads it again.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from pathlib import Path

import duckdb
import pyarrow as pa

from eventstore.errors import StoreError
from eventstore.store.duckdb_writer import DuckDBBatchWriter, insert_tables, run_no_of
from eventstore.store.segments import (
    Segment,
    SegmentWriter,
    remove_run,
    run_segments,
    runs_with_segments,
)
from eventstore.tracing.writer import RunInfo, RunStats, RunStatus, TraceBatch

logger = logging.getLogger(__name__)

LOAD_ROWS = 200_000
"""Events pending in a segment that trigger a load: large enough that DuckDB's per-transaction
cost is amortized (0.64 µs/row at 200 000 rows), small enough to bound memory (~30 MB)."""
FSYNC_INTERVAL = 1.0
"""Seconds between fsyncs of a segment: what a power loss can cost, and what it costs to
promise (measured by ``benchmarks/bench_ingest.py``)."""

_DELETE_EVENTS = "DELETE FROM run_events WHERE run_no = $run_no AND seq BETWEEN $low AND $high"
_DELETE_EDGES = "DELETE FROM run_edges WHERE run_no = $run_no AND child_seq BETWEEN $low AND $high"
# A delivery may be in a later batch than its event, so a segment's deliveries are not a seq
# range: they are removed by identity.
_DELETE_DELIVERIES = """
DELETE FROM run_deliveries AS d
USING _es_reloaded AS r
WHERE d.run_no = $run_no AND d.seq = r.seq AND d.handler_code = r.handler_code
  AND d.received_ns = r.received_ns AND d.processed_ns = r.processed_ns
"""


def load_segment(
    con: duckdb.DuckDBPyConnection, run_no: int, segment: Segment, *, replace: bool
) -> int:
    """Load the readable batches of ``segment`` in one transaction; the number of events.

    ``replace`` first deletes the rows the segment holds, in the same transaction, for a
    segment that may have been loaded already (recovery); a live run's writer knows it was not.
    """
    contents = segment.read()
    if not contents.batches:
        return 0
    con.begin()
    try:
        if replace:
            _delete_rows(con, run_no, contents.events, contents.deliveries)
        insert_tables(
            con,
            run_no,
            names=contents.names,
            events=contents.events,
            edges=contents.edges,
            deliveries=contents.deliveries,
            end_updates=contents.end_updates,
        )
        con.commit()
    except BaseException:
        # A failed COMMIT (e.g. the disk is full) has already ended the transaction: a
        # second error from ROLLBACK must not hide the one that says what went wrong.
        with contextlib.suppress(duckdb.Error):
            con.rollback()
        raise
    return int(contents.events.num_rows)


def _delete_rows(
    con: duckdb.DuckDBPyConnection, run_no: int, events: pa.Table, deliveries: pa.Table
) -> None:
    if events.num_rows:
        seqs = events.column("seq")
        bounds = {"run_no": run_no, "low": seqs[0].as_py(), "high": seqs[-1].as_py()}
        con.execute(_DELETE_EVENTS, bounds)
        con.execute(_DELETE_EDGES, bounds)
    if deliveries.num_rows:
        con.register("_es_reloaded", deliveries)
        try:
            con.execute(_DELETE_DELIVERIES, {"run_no": run_no})
        finally:
            con.unregister("_es_reloaded")


class BulkDuckDBWriter:
    """One run's writer: segment files first, DuckDB in loads of ``load_rows`` events."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        segments: Path | None,
        *,
        load_rows: int = LOAD_ROWS,
        fsync_interval: float = FSYNC_INTERVAL,
    ) -> None:
        """``segments`` is the store's segment directory; None (an in-memory store) uses a
        temporary one, removed at close."""
        self._rows = DuckDBBatchWriter(con)
        self._con = con
        self._scratch: tempfile.TemporaryDirectory[str] | None = None
        if segments is None:
            self._scratch = tempfile.TemporaryDirectory(prefix="eventstore-segments-")
            segments = Path(self._scratch.name)
        self.root = segments
        self.load_rows = load_rows
        self.fsync_interval = fsync_interval
        self.loads = 0
        self._segments: SegmentWriter | None = None
        self._run_id: str | None = None

    def begin_run(self, run: RunInfo) -> None:
        self._rows.begin_run(run)
        self._run_id = run.run_id
        self._segments = SegmentWriter(self.root, run.run_id, self.fsync_interval)

    def write_batch(self, batch: TraceBatch) -> None:
        segments = self._require_run(batch.run_id)
        segments.append(batch)
        if segments.pending_rows >= self.load_rows:
            self._load_pending()

    def _require_run(self, run_id: str) -> SegmentWriter:
        if self._segments is None or self._rows.run_no is None:
            raise StoreError(f"run {run_id} was never begun: call begin_run first")
        return self._segments

    def _load_pending(self) -> None:
        """Load and delete every segment of the run still on disk, oldest first: the current
        one, and any a failed append or delete left behind (those are reloaded with
        ``replace``, in case they were loaded already)."""
        assert self._segments is not None and self._rows.run_no is not None
        current = self._segments.rotate()
        for segment in run_segments(self.root, self._segments.run_id):
            fresh = current is not None and segment.path == current.path
            load_segment(self._con, self._rows.run_no, segment, replace=not fresh)
            self.loads += 1
            segment.delete()

    def end_run(self, run_id: str, status: RunStatus, error: str | None, stats: RunStats) -> None:
        """Load what is pending, then record the run's end (two commits: a crash between
        them leaves a run whose events are all stored, marked ``crashed`` on the next open)."""
        segments = self._require_run(run_id)
        try:
            self._load_pending()
        except (duckdb.Error, OSError) as exc:
            with contextlib.suppress(OSError):
                segments.close(sync=True)
            raise StoreError(
                f"run {run_id} ended {status} but that could not be recorded: loading its last "
                f"events failed ({exc}); they are kept in {self.root}: free disk space, and the "
                "next open of the store (e.g. `eventstore runs`) loads them and marks the run "
                "crashed"
            ) from None
        self._rows.end_run(run_id, status, error, stats)
        remove_run(self.root, run_id)

    def close(self) -> None:
        try:
            if self._segments is not None:
                self._segments.close(sync=True)
        finally:
            try:
                self._rows.close()
            finally:
                if self._scratch is not None:
                    self._scratch.cleanup()


def recover_runs(con: duckdb.DuckDBPyConnection, root: Path, run_ids: list[str]) -> int:
    """Load the segments left by ``run_ids`` (runs whose process is gone) and delete them;
    the number of events loaded. A run whose segments cannot be loaded keeps them (logged)."""
    loaded = 0
    for run_id in run_ids:
        segments = run_segments(root, run_id)
        if not segments:
            continue
        run_no = run_no_of(con, run_id)
        if run_no is None:
            logger.warning("segments of run %s are not in this store: left in %s", run_id, root)
            continue
        try:
            for segment in segments:
                loaded += load_segment(con, run_no, segment, replace=True)
                segment.delete()
        except (duckdb.Error, OSError) as exc:
            logger.warning("cannot load the segments of run %s (%s): left in %s", run_id, exc, root)
            continue
        remove_run(root, run_id)
    return loaded


def leftover_runs(root: Path) -> list[str]:
    """Runs with segment directories (loaded or not)."""
    return runs_with_segments(root)
