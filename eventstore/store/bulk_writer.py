"""The DuckDB writer: batches go to segment files at once and into DuckDB in large loads.

DuckDB's insert cost is per transaction, not per row (measured: 2.5 µs/row in 10 000-row
transactions, 0.64 µs/row in 200 000-row ones, 0.31 µs/row as one bulk insert), while appending
a batch to an Arrow IPC segment costs about 0.06 µs/row. So ``write_batch`` appends to the
run's current segment (``segments.py``) and returns (it is ``appends_only``: the tracer calls
it in the publishing thread). The segment is closed and handed to the loading thread
(``segment_loader.py``) as soon as that thread is idle and ``min_load_rows`` events are
pending, or at ``load_rows`` events (waiting for the thread if it is still busy): so a run's
events are loaded on the second core while it goes, in loads that grow when the loader falls
behind, and ``end_run`` loads only the rest. Memory stays bounded by two segments (read back
memory-mapped, zero-copy).

**Durability promise** (the README's "Reliability" section says the same):

- *SIGKILL* (or any death of the process): every batch ``write_batch`` returned from is kept;
  the next read-write open (or a read-only one, which opens for writing briefly to do it) loads
  the segments of runs whose process is gone and marks them ``crashed`` with their event count.
  Lost: what the tracer had not handed to the writer yet: about ``batch_size`` events
  (10 000) or the last ``flush_interval`` seconds (1 s), whichever is fewer (hand-offs append
  at once; when loading falls behind, they wait for the loader). A batch is recovered whole or
  not at all, and exactly once.
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

from eventstore.errors import StoreError
from eventstore.store.duckdb_writer import DuckDBBatchWriter, run_no_of
from eventstore.store.segment_loader import SegmentLoader, load_segment
from eventstore.store.segments import SegmentWriter, remove_run, run_segments, runs_with_segments
from eventstore.tracing.writer import RunInfo, RunStats, RunStatus, TraceBatch

logger = logging.getLogger(__name__)

LOAD_ROWS = 125_000
"""Events pending in a segment that make it wait for the loader: a little above DuckDB's row
group (122 880 rows), so a full load writes whole row groups straight to the file, and small
enough to bound memory. The segment being loaded is mapped into memory and DuckDB keeps what it
has not checkpointed yet; measured tracing 5 000 000 events (``bench_tracing.py``): RSS grew
22-29 MB past the warm-up with 125 000, 43-68 MB with 200 000 (the ingest share of raw fell
from 86 % to 81 %, ``bench_ingest.py``)."""
MIN_LOAD_ROWS = 60_000
"""Events pending in a segment that an idle loader takes: loads start early in a run, so less is
left for its end. Measured on the demo backtest (159 000 events; ``bench_backtest.py``): 0.85 s
traced with 60 000, 0.90 s with 20 000 (more loads, each waiting for the GIL as often), 0.91 s
with loads only at the end."""
FSYNC_INTERVAL = 1.0
"""Seconds between fsyncs of a segment: what a power loss can cost, and what it costs to
promise (measured by ``benchmarks/bench_ingest.py``)."""


class BulkDuckDBWriter:
    """One run's writer: segment files first, loaded into DuckDB by a thread of its own."""

    appends_only = True

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        segments: Path | None,
        *,
        load_rows: int = LOAD_ROWS,
        min_load_rows: int = MIN_LOAD_ROWS,
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
        self.min_load_rows = min(min_load_rows, load_rows)
        self.fsync_interval = fsync_interval
        self._loads_at_end = 0
        self._segments: SegmentWriter | None = None
        self._loader: SegmentLoader | None = None

    @property
    def loads(self) -> int:
        """Transactions that loaded a segment, during the run and at its end."""
        return self._loads_at_end + (0 if self._loader is None else self._loader.loads)

    def begin_run(self, run: RunInfo) -> None:
        self._rows.begin_run(run)
        assert self._rows.run_no is not None
        self._segments = SegmentWriter(self.root, run.run_id, self.fsync_interval)
        self._loader = SegmentLoader(self._con.cursor(), self._rows.run_no, run.run_id)

    def write_batch(self, batch: TraceBatch) -> None:
        segments, loader = self._require_run(batch.run_id)
        if loader.failure is not None:
            raise StoreError(f"loading the run's events into DuckDB failed: {loader.failure}")
        segments.append(batch)
        pending = segments.pending_rows
        if pending >= self.load_rows or (pending >= self.min_load_rows and loader.idle):
            closed = segments.rotate()
            if closed is not None:
                loader.submit(closed)

    def _require_run(self, run_id: str) -> tuple[SegmentWriter, SegmentLoader]:
        if self._segments is None or self._loader is None:
            raise StoreError(f"run {run_id} was never begun: call begin_run first")
        return self._segments, self._loader

    def _load_pending(self) -> None:
        """Load and delete every segment of the run still on disk, oldest first: the current
        one, and any a failed load, append or delete left behind (those are reloaded with
        ``replace``, in case they were loaded already). Call with the loader finished."""
        assert self._segments is not None and self._rows.run_no is not None
        current = self._segments.rotate()
        for segment in run_segments(self.root, self._segments.run_id):
            fresh = current is not None and segment.path == current.path
            load_segment(self._con, self._rows.run_no, segment, replace=not fresh, verify=not fresh)
            self._loads_at_end += 1
            segment.delete()

    def end_run(self, run_id: str, status: RunStatus, error: str | None, stats: RunStats) -> None:
        """Load what is pending, then record the run's end (two commits: a crash between
        them leaves a run whose events are all stored, marked ``crashed`` on the next open)."""
        segments, loader = self._require_run(run_id)
        try:
            loader.finish()  # a failed load left its segment on disk: tried again here
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
            if self._loader is not None:
                self._loader.finish()
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
