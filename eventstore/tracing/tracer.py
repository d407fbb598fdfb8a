"""EventTracer: gives each published event its identity and lineage, buffers it, and hands
batches to a writer.

The publish path does as little as CPython allows: one list per event appended under a lock,
two clock reads, and no encoding, allocation of result objects or I/O. Batches are converted to
Arrow and written by a background thread (or inline with ``background=False``).
"""

from __future__ import annotations

import atexit
import itertools
import logging
import os
import queue
import socket
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, overload

from eventstore.events import Event
from eventstore.tracing.batch import BatchBuilder, Delivery
from eventstore.tracing.ids import event_id, new_correlation_id, new_run_tag, seq_of
from eventstore.tracing.rows import (
    CAUSE,
    CREATED,
    DESC,
    EMITTED,
    END,
    EVENT,
    EXTRA,
    FLUSHED,
    PROCESSED,
    RECEIVED,
    ROOT,
    SEQ,
    SOURCE,
    Row,
    source_name,
)
from eventstore.tracing.traced_event import TracedEvent
from eventstore.tracing.writer import BatchWriter, RunInfo, RunStats, RunStatus, WriterSource

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 10_000
DEFAULT_RING_SIZE = 10_000


class TraceWriteError(RuntimeError):
    """Writing a batch failed: the run is ``failed`` and nothing after the failure is stored."""


class _RawBatch:
    __slots__ = ("deliveries", "end_updates", "ends", "rows")

    def __init__(
        self,
        rows: list[Row],
        ends: list[int | None],
        deliveries: list[Delivery],
        end_updates: list[tuple[int, int]],
    ) -> None:
        self.rows = rows
        self.ends = ends
        self.deliveries = deliveries
        self.end_updates = end_updates


_STOP = object()


def _take_prefix(items: list[Any]) -> list[Any]:
    count = len(items)
    taken = items[:count]
    del items[:count]
    return taken


class EventTracer:
    """Traces one run: its ``correlation_id`` groups every event it records.

    Use it as a context manager to open the run (``running``) and close it ``completed``, or
    ``failed`` with the exception that escaped. ``store`` is a store (``open_store(...)``) or any
    ``BatchWriter``; without one, only the ``traced_events`` ring of recent events is kept.
    """

    def __init__(
        self,
        correlation_id: str | None = None,
        store: WriterSource | BatchWriter | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        *,
        name: str | None = None,
        config: Mapping[str, Any] | None = None,
        ring_size: int = DEFAULT_RING_SIZE,
        background: bool = True,
        flush_interval: float = 1.0,
        max_pending_batches: int = 4,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if ring_size < 0:
            raise ValueError(f"ring_size must be 0 or more, got {ring_size}")
        if flush_interval <= 0:
            raise ValueError(f"flush_interval must be positive seconds, got {flush_interval}")
        self.started_at = datetime.now(UTC).replace(tzinfo=None)
        self._origin_ns = time.perf_counter_ns()
        self.tag = new_run_tag()
        self.correlation_id = correlation_id or new_correlation_id(self.started_at, self.tag)
        self.name = name
        self.config: dict[str, Any] = dict(config or {})
        self.batch_size = batch_size
        self.flush_interval = flush_interval

        self._writer: BatchWriter | None = (
            store.batch_writer() if hasattr(store, "batch_writer") else store  # type: ignore[assignment]
        )
        self._builder = BatchBuilder(self.correlation_id, self.tag, self._origin_ns)
        self._handoff_lock = threading.Lock()
        self._seq = itertools.count(1)  # next() is atomic: no lock on the publish path
        self._rows: list[Row] = []
        self._deliveries: list[Delivery] = []
        self._open_rows: list[Row] = []  # flushed before their dispatch returned
        self._late_rows: list[Row] = []  # flushed, then END raised by a later explicit child
        self._ring: deque[Row] = deque(maxlen=ring_size)
        self._current: ContextVar[Row | None] = ContextVar(
            f"eventstore_cause_{self.tag}", default=None
        )
        self._id_prefix = f"{self.tag}-"
        self.lineage_exact = True
        self.status: RunStatus | None = None
        self._failure: BaseException | None = None
        self._queue: queue.Queue[Any] | None = None
        self._thread: threading.Thread | None = None
        if self._writer is not None and background:
            self._queue = queue.Queue(maxsize=max_pending_batches)
            self._thread = threading.Thread(
                target=self._write_loop, name=f"eventstore-writer-{self.tag}", daemon=True
            )
        # Flush on interpreter exit if the user forgets close(); weak, so it never keeps the
        # tracer alive.
        self_ref = weakref.ref(self)
        self._atexit = lambda: (t := self_ref()) is not None and t._close_at_exit()
        atexit.register(self._atexit)

    # ------------------------------------------------------------------ run lifecycle

    def start(self) -> EventTracer:
        """Open the run row (``running``); the first batch does this on its own if needed."""
        with self._handoff_lock:
            self._start_locked()
        return self

    def _start_locked(self) -> None:
        if self.status is not None:
            return
        self.status = "running"
        if self._writer is None:
            return
        from eventstore import __version__

        self._writer.begin_run(
            RunInfo(
                run_id=self.correlation_id,
                tag=self.tag,
                name=self.name,
                started_at=self.started_at,
                config=self.config,
                library_version=__version__,
                host=socket.gethostname(),
                pid=os.getpid(),
            )
        )
        if self._thread is not None:
            self._thread.start()

    def __enter__(self) -> EventTracer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.close()
        elif isinstance(exc, KeyboardInterrupt):
            self._end("interrupted", "KeyboardInterrupt", raise_failure=False)
        else:
            self._end("failed", f"{type(exc).__name__}: {exc}", raise_failure=False)

    def flush(self) -> None:
        """Write everything recorded so far and wait until it is stored."""
        self._hand_off()
        if self._queue is not None and self._thread is not None and self._thread.is_alive():
            self._queue.join()
        self._raise_failure()

    def close(self, status: RunStatus = "completed", error: str | None = None) -> None:
        """Flush, then end the run with ``status``; a failed write ends it ``failed`` instead.

        Idempotent: only the first call ends the run.
        """
        self._end(status, error, raise_failure=True)

    def _end(self, status: RunStatus, error: str | None, *, raise_failure: bool) -> None:
        if self.status in ("completed", "failed", "interrupted"):
            if raise_failure:
                self._raise_failure()
            return
        atexit.unregister(self._atexit)
        try:
            self.flush()
        except TraceWriteError:
            pass
        finally:
            self._stop_thread()
        if self._failure is not None:
            status, error = "failed", f"writing a batch failed: {self._failure}"
        self.status = status
        if self._writer is not None:
            stats = RunStats(
                event_count=self._count_recorded(),
                unencodable_count=self._builder.encoder.unencodable_count,
                lineage_exact=self.lineage_exact,
            )
            try:
                self._writer.end_run(self.correlation_id, status, error, stats)
            finally:
                self._writer.close()
        if raise_failure:
            self._raise_failure()

    def _close_at_exit(self) -> None:
        """The program is exiting without having closed the run: an uncaught exception (the
        interpreter sets ``sys.last_value``) makes it ``failed``, else ``completed``."""
        last = getattr(sys, "last_value", None)
        try:
            if last is None:
                self.close()
            else:
                self._end("failed", f"{type(last).__name__}: {last}", raise_failure=False)
        except Exception:
            logger.exception("closing run %s at exit failed", self.correlation_id)

    def _stop_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive() and self._queue is not None:
            self._queue.put(_STOP)
            self._thread.join()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise TraceWriteError(
                f"run {self.correlation_id}: writing a batch failed ({self._failure}); "
                "events from that batch on are not stored"
            ) from self._failure

    # ------------------------------------------------------------------ recording

    @property
    def event_count(self) -> int:
        """Events recorded so far."""
        return self._count_recorded()

    def _count_recorded(self) -> int:
        # itertools.count exposes its next value only through its repr.
        return int(repr(self._seq)[6:-1]) - 1

    def _record(
        self,
        event: Event,
        source: object,
        created: int,
        caused_by: Event | str | None,
        parents: Iterable[tuple[str, Event | str]],
    ) -> Row:
        """The slow path of ``TracedEventBus.publish``: an event with named parents."""
        extra: list[Any] = self._resolve_parents(parents)
        if caused_by is None:
            cause: Row | int | None = self._current.get()
        else:
            cause = self._resolve(caused_by)
            extra.insert(0, ("caused_by", cause))
            if isinstance(cause, int):  # left the ring: keep the edge, lose the row
                cause = None
        seq = next(self._seq)
        root = seq if cause is None else cause[ROOT]
        row = [seq, event, source, cause, root, created, created, None, None, None, extra, False, seq]
        row[ROOT] = self._raise_ancestor_ends(row, seq)
        self._rows.append(row)
        self._ring.append(row)
        event.metadata["event_id"] = self._id_prefix + str(seq)
        if len(self._rows) >= self.batch_size:
            self._hand_off()
        return row

    def _raise_ancestor_ends(self, row: Row, seq: int) -> int:
        """Make every ancestor's descendant range cover ``seq``; return ``row``'s root bound.

        Keeps the pruning promise for named parents, whose children are published outside
        their dispatch: ancestors of X have seq in [ROOT, X], descendants in (X, END]. A parent
        that already left the ring makes the bounds unknowable: the run is then marked
        ``lineage_exact = false`` and queries stop pruning it.
        """
        root = int(row[ROOT])
        pending: list[Row] = [] if row[CAUSE] is None else [row[CAUSE]]
        for _, parent in row[EXTRA] or ():
            if isinstance(parent, int):
                self.lineage_exact = False
                root = 0
            else:
                root = min(root, parent[ROOT])
                pending.append(parent)
        seen: set[int] = set()
        while pending:
            ancestor = pending.pop()
            if id(ancestor) in seen:
                continue
            seen.add(id(ancestor))
            if ancestor[DESC] < seq:
                ancestor[DESC] = seq
            end = ancestor[END]
            if end is not None and end < seq:
                ancestor[END] = seq
                if ancestor[FLUSHED]:
                    self._late_rows.append(ancestor)
            if ancestor[CAUSE] is not None:
                pending.append(ancestor[CAUSE])
            for _, grand in ancestor[EXTRA] or ():
                if isinstance(grand, int):
                    self.lineage_exact = False
                else:
                    pending.append(grand)
        return root

    def _finish(self, row: Row) -> None:
        """Dispatch of ``row`` returned: its descendants so far are final, pass them up."""
        end = row[DESC]
        row[END] = end
        if row[EXTRA] is None:
            cause = row[CAUSE]
            if cause is not None and cause[DESC] < end:
                cause[DESC] = end
        else:
            self._raise_ancestor_ends(row, end)

    def _resolve(self, parent: Event | str) -> Row | int:
        """The ring row of a parent event (or its bare seq if it left the ring)."""
        pid = parent if isinstance(parent, str) else parent.metadata.get("event_id")
        seq = seq_of(pid, self.tag) if isinstance(pid, str) else None
        if seq is None or seq > self._count_recorded():
            raise ValueError(
                f"parent {pid!r} is not an event of run {self.correlation_id}: name a parent "
                "by an Event published on this tracer's bus or by its event_id"
            )
        row = self._ring_row(seq)
        return seq if row is None else row

    def _ring_row(self, seq: int) -> Row | None:
        ring = self._ring
        if not ring:
            return None
        index = seq - ring[0][SEQ]
        if 0 <= index < len(ring) and ring[index][SEQ] == seq:
            row: Row = ring[index]
            return row
        # Threads may append out of seq order: fall back to a scan of the ring.
        return next((r for r in ring if r[SEQ] == seq), None)

    def _resolve_parents(self, parents: Iterable[tuple[str, Event | str]]) -> list[Any]:
        resolved: list[Any] = []
        for kind, parent in parents:
            if not isinstance(kind, str) or not kind:
                raise ValueError(f"a lineage edge kind must be a non-empty string, got {kind!r}")
            resolved.append((kind, self._resolve(parent)))
        return resolved

    # ------------------------------------------------------------------ batches

    def _hand_off(self) -> None:
        """Send what is buffered to the writer; blocks while the writer is behind."""
        with self._handoff_lock:
            if self.status is None:
                self._start_locked()
            batch = self._take_batch()
            if batch is None:
                return
            if self._thread is not None and self._thread.is_alive():
                assert self._queue is not None
                self._raise_failure()
                self._queue.put(batch)  # blocks when the writer is behind: no loss
            else:
                self._write(batch)
                self._raise_failure()

    def _take_batch(self) -> _RawBatch | None:
        """Take everything buffered. Publishers append without a lock, so lists are never
        swapped: a prefix is copied and deleted (each one atomic under the GIL)."""
        rows = _take_prefix(self._rows)
        deliveries = _take_prefix(self._deliveries)
        late = _take_prefix(self._late_rows)
        if not rows and not deliveries and not late and not self._open_rows:
            return None
        ends: list[int | None] = []
        for row in rows:
            row[FLUSHED] = True  # before reading END: a later raise then becomes an update
            ends.append(row[END])
        updates: list[tuple[int, int]] = []
        still_open: list[Row] = []
        for row in self._open_rows:
            if row[END] is None:
                still_open.append(row)
            else:
                updates.append((row[SEQ], row[END]))
        updates.extend((row[SEQ], row[END]) for row in late)
        still_open.extend(row for row, end in zip(rows, ends, strict=True) if end is None)
        self._open_rows = still_open
        return _RawBatch(rows, ends, deliveries, updates)

    def _write(self, raw: _RawBatch) -> None:
        if self._writer is None or self._failure is not None:
            return
        try:
            batch = self._builder.build(raw.rows, raw.ends, raw.deliveries, raw.end_updates)
            self._writer.write_batch(batch)
        except Exception as exc:
            logger.error("run %s: writing a batch failed: %s", self.correlation_id, exc)
            self._failure = exc

    def _write_loop(self) -> None:
        assert self._queue is not None
        while True:
            try:
                item = self._queue.get(timeout=self.flush_interval)
            except queue.Empty:
                with self._handoff_lock:
                    if not self._queue.empty():
                        continue
                    item = self._take_batch()
                if item is not None:
                    self._write(item)
                continue
            try:
                if item is _STOP:
                    return
                self._write(item)
            finally:
                self._queue.task_done()

    # ------------------------------------------------------------------ the public, slow API

    def trace_event(
        self, event: Event, source_container: object = None, *, causation_id: str | None = None
    ) -> TracedEvent:
        """Record ``event`` published outside any bus and return its traced view.

        The cause is ``causation_id`` if given, else the event being handled right now, if any.
        """
        row = self._record(event, source_container, time.perf_counter_ns(), causation_id, ())
        self._finish(row)
        return self._traced(row)

    @property
    def traced_events(self) -> Sequence[TracedEvent]:
        """The most recent events (``ring_size`` of them), oldest first."""
        return _RecentEvents(self)

    @property
    def event_index(self) -> Mapping[str, TracedEvent]:
        """``event_id → TracedEvent`` for the events still in ``traced_events``."""
        return _EventIndex(self)

    def _traced(self, row: Row) -> TracedEvent:
        event: Event = row[EVENT]
        cause = row[CAUSE]
        return TracedEvent(
            event_id=event_id(self.tag, row[SEQ]),
            event_type=str(event.event_type),
            timestamp=event.timestamp,
            correlation_id=self.correlation_id,
            causation_id=None if cause is None else event_id(self.tag, cause[SEQ]),
            source_container=source_name(row[SOURCE]),
            created_at=self._wall(row[CREATED]),
            emitted_at=self._wall(row[EMITTED]),
            received_at=self._wall(row[RECEIVED]),
            processed_at=self._wall(row[PROCESSED]),
            data=event.payload,
            sequence_number=row[SEQ],
            partition_key=event.metadata.get("partition_key"),
        )

    @overload
    def _wall(self, ns: int) -> datetime: ...
    @overload
    def _wall(self, ns: None) -> None: ...
    def _wall(self, ns: int | None) -> datetime | None:
        if ns is None:
            return None
        return self.started_at + timedelta(microseconds=(ns - self._origin_ns) / 1000)


class _RecentEvents(Sequence[TracedEvent]):
    """A read-only view of the ring: builds ``TracedEvent`` objects only when asked."""

    def __init__(self, tracer: EventTracer) -> None:
        self._tracer = tracer

    def __len__(self) -> int:
        return len(self._tracer._ring)

    @overload
    def __getitem__(self, index: int) -> TracedEvent: ...
    @overload
    def __getitem__(self, index: slice) -> list[TracedEvent]: ...
    def __getitem__(self, index: int | slice) -> TracedEvent | list[TracedEvent]:
        rows = list(self._tracer._ring) if isinstance(index, slice) else None
        if rows is not None:
            return [self._tracer._traced(row) for row in rows[index]]
        return self._tracer._traced(self._tracer._ring[index])  # type: ignore[index]

    def __iter__(self) -> Iterator[TracedEvent]:
        return (self._tracer._traced(row) for row in list(self._tracer._ring))


class _EventIndex(Mapping[str, TracedEvent]):
    """``event_id → TracedEvent`` over the ring: trimmed with it, so it never grows."""

    def __init__(self, tracer: EventTracer) -> None:
        self._tracer = tracer

    def __getitem__(self, key: str) -> TracedEvent:
        tracer = self._tracer
        seq = seq_of(key, tracer.tag) if isinstance(key, str) else None
        row = None if seq is None else tracer._ring_row(seq)
        if row is None:
            raise KeyError(key)
        return tracer._traced(row)

    def __iter__(self) -> Iterator[str]:
        tag = self._tracer.tag
        return (event_id(tag, row[SEQ]) for row in list(self._tracer._ring))

    def __len__(self) -> int:
        return len(self._tracer._ring)
