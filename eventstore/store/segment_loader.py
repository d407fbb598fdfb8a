"""Loads a run's closed segment files into DuckDB on a thread of its own, while the run goes.

A load is a handful of calls into DuckDB, which releases the GIL while it inserts and
compresses: so the load runs on the second core beside a busy publisher (measured: a
159 000-event load alone 0.17 s, 0.21 s beside a thread spinning in Python, which slowed by
4 %). Segments are loaded one at a time, oldest first, so an end update always finds its event
stored. At most one segment waits behind the one loading: ``submit`` blocks beyond that, which
bounds the disk and memory a slow load can pile up (backpressure, nothing dropped).

While a load runs, the interpreter's switch interval is lowered (``prompt_gil_handoffs``):
DuckDB's Python binding takes the GIL between every two tasks of a statement (to check for
Ctrl-C), and each time waits up to the interval (5 ms) for a busy publisher to give it back.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import sys
import threading
from collections.abc import Iterator

import duckdb
import pyarrow as pa

from eventstore.store.duckdb_writer import insert_tables, release_cached_blocks, uncapped
from eventstore.store.segments import Segment, SegmentContents

logger = logging.getLogger(__name__)

_STOP = None

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


LOADING_SWITCH_INTERVAL = 0.0002
"""Seconds a thread holds the GIL while another waits for it, during loads. Measured on the demo
backtest (100 000 bars, ``bench_backtest.py``): a 60 000-event load beside the publisher took
0.23 s with the default 5 ms, 0.11 s with 0.2 ms; traced/untraced 2.10x with 5 ms, 2.06x with
1 ms, 1.94x with 0.5 ms, 1.87-1.89x with 0.2 ms. It costs memory: tracing 5 000 000 events
(``bench_tracing.py``) peaked at 271-279 MB with 0.5 ms or less, 252-255 MB with 1 ms or more
(RSS growth past the warm-up 27-57 MB, 22-41 MB)."""

_handoffs_lock = threading.Lock()
_loads_running = 0
_saved_interval = _lowered_interval = 0.0


@contextlib.contextmanager
def prompt_gil_handoffs() -> Iterator[None]:
    """Lower the switch interval to ``LOADING_SWITCH_INTERVAL`` while the block runs (loads of
    several runs at once share one lowering), then put back the interval found, unless someone
    changed it meanwhile. It only matters while a thread waits for the GIL: a publisher alone
    runs exactly as fast."""
    global _loads_running, _saved_interval, _lowered_interval
    with _handoffs_lock:
        if _loads_running == 0:
            _saved_interval = sys.getswitchinterval()
            sys.setswitchinterval(min(_saved_interval, LOADING_SWITCH_INTERVAL))
            _lowered_interval = sys.getswitchinterval()  # rounded to whole microseconds
        _loads_running += 1
    try:
        yield
    finally:
        with _handoffs_lock:
            _loads_running -= 1
            if _loads_running == 0 and sys.getswitchinterval() == _lowered_interval:
                sys.setswitchinterval(_saved_interval)


def load_segment(
    con: duckdb.DuckDBPyConnection,
    run_no: int,
    segment: Segment,
    *,
    replace: bool,
    verify: bool = True,
) -> int:
    """Load the readable batches of ``segment`` in one transaction; the number of events.

    ``replace`` first deletes the rows the segment holds, in the same transaction, for a
    segment that may have been loaded already (recovery); a live run's writer knows it was not.
    ``verify=False`` skips checking batch by batch (``Segment.read``): only for a segment this
    process closed whole.
    """
    contents = segment.read(verify=verify)
    if not contents.batches:
        return 0
    try:
        return _load(con, run_no, contents, replace=replace)
    except duckdb.OutOfMemoryException:  # rolled back: nothing of it is stored
        logger.info("loading segment %s needed more memory than the tracing cap", segment)
        with uncapped(con):
            loaded = _load(con, run_no, contents, replace=replace)
            con.execute("CHECKPOINT")  # under the cap, its blocks could not be written out
            return loaded


def _load(
    con: duckdb.DuckDBPyConnection, run_no: int, contents: SegmentContents, *, replace: bool
) -> int:
    tables = {
        "names": contents.names,
        "events": contents.events,
        "edges": contents.edges,
        "deliveries": contents.deliveries,
        "end_updates": contents.end_updates,
    }
    if not replace:
        insert_tables(con, run_no, **tables, commit=True)
        return int(contents.events.num_rows)
    con.begin()
    try:
        _delete_rows(con, run_no, contents.events, contents.deliveries)
        insert_tables(con, run_no, **tables)
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


class SegmentLoader:
    """The loading thread of one run; ``con`` is a DuckDB cursor of its own."""

    def __init__(self, con: duckdb.DuckDBPyConnection, run_no: int, run_id: str) -> None:
        self._con = con
        self._run_no = run_no
        self._queue: queue.Queue[Segment | None] = queue.Queue(maxsize=1)
        self._thread = threading.Thread(
            target=self._load_loop, name=f"eventstore-loader-{run_id}", daemon=True
        )
        self._thread.start()
        self.failure: BaseException | None = None
        """The first failed load: that segment and every later one stay on disk."""
        self.loads = 0

    @property
    def idle(self) -> bool:
        """Nothing loading and nothing waiting."""
        return self._queue.unfinished_tasks == 0

    def submit(self, segment: Segment) -> None:
        """Load ``segment`` (closed, not loaded before) after those submitted earlier; blocks
        while one is already waiting."""
        self._queue.put(segment)

    def finish(self) -> BaseException | None:
        """Wait for every submitted load, stop the thread; the first failure, if any."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()
        return self.failure

    def _load_loop(self) -> None:
        try:
            while True:
                segment = self._queue.get()
                try:
                    if segment is _STOP:
                        return
                    if self.failure is None:
                        with prompt_gil_handoffs():
                            load_segment(
                                self._con, self._run_no, segment, replace=False, verify=False
                            )
                            segment.delete()
                            self.loads += 1
                            release_cached_blocks(self._con)
                except Exception as exc:  # kept on disk: the run's end loads it again
                    logger.error("loading segment %s failed: %s", segment, exc)
                    self.failure = exc
                finally:
                    self._queue.task_done()
        finally:
            self._con.close()
