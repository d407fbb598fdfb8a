"""EventTracer: gives each published event its identity and lineage, buffers it, and hands
batches to a writer.

The publish path (inlined in ``TracedEventBus.publish``) appends one tuple of atomic values per
event and per handler call to lists, without locks or I/O; a background thread turns them into
Arrow batches and writes them (or the publisher does, with ``background=False``).
"""

from __future__ import annotations

import atexit
import contextlib
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
from typing import Any, TypeGuard, overload

import orjson

from eventstore.errors import TraceWriteError as TraceWriteError  # re-exported here too
from eventstore.events import Event
from eventstore.tracing.batch import BatchBuilder
from eventstore.tracing.encoding import FAST_OPTIONS, PayloadEncoder
from eventstore.tracing.ids import event_id, new_correlation_id, new_run_tag, seq_of
from eventstore.tracing.records import (
    E_CAUSE,
    E_CREATED,
    E_EXTRA,
    E_PARTITION,
    E_PAYLOAD,
    E_ROOT,
    E_SEQ,
    E_SOURCE,
    E_TIME,
    E_TYPE,
    F_EMITTED,
    F_PROCESSED,
    F_SEQ,
    FR_DESC,
    FR_ROOT,
    FR_SEQ,
    DeliveryRecord,
    EventRecord,
    FinishRecord,
)
from eventstore.tracing.traced_event import TracedEvent
from eventstore.tracing.writer import BatchWriter, RunInfo, RunStats, RunStatus, WriterSource

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 10_000
DEFAULT_RING_SIZE = 10_000

Frame = list[Any]


class _Pending:
    """The records of one hand-off, on their way to the writer thread."""

    __slots__ = ("deliveries", "events", "finishes")

    def __init__(
        self,
        events: list[EventRecord],
        finishes: list[FinishRecord],
        deliveries: list[DeliveryRecord],
    ) -> None:
        self.events = events
        self.finishes = finishes
        self.deliveries = deliveries


_STOP = object()


def _take_prefix(items: list[Any]) -> list[Any]:
    """Take everything in ``items``. Publishers append without a lock, so the list is never
    swapped: a prefix is copied and deleted, each step atomic under the GIL."""
    count = len(items)
    taken = items[:count]
    del items[:count]
    return taken


def source_name(source: object) -> str | None:
    """The recorded name of a publisher: a container's ``metadata.name``, a string, or None."""
    if source is None or isinstance(source, str):
        return source
    name = getattr(getattr(source, "metadata", None), "name", None)
    return name if isinstance(name, str) else type(source).__name__


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
        if max_pending_batches < 1:
            raise ValueError(f"max_pending_batches must be at least 1, got {max_pending_batches}")
        self.started_at = datetime.now(UTC).replace(tzinfo=None)
        self._origin_ns = time.perf_counter_ns()
        self.tag = new_run_tag()
        self.correlation_id = correlation_id or new_correlation_id(self.started_at, self.tag)
        self.name = name
        self.config: dict[str, Any] = dict(config or {})
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.lineage_exact = True
        self.status: RunStatus | None = None

        # State the publish path touches (see TracedEventBus.publish).
        self._seq = itertools.count(1)  # next() is atomic: no lock on the publish path
        self._events: list[EventRecord] = []
        self._finishes: list[FinishRecord] = []
        self._deliveries: list[DeliveryRecord] = []
        self._ring: deque[EventRecord] = deque(maxlen=ring_size)
        self._finish_ring: deque[FinishRecord] = deque(maxlen=ring_size)
        self._current: ContextVar[Frame | None] = ContextVar(
            f"eventstore_cause_{self.tag}", default=None
        )
        self._id_prefix = f"{self.tag}-"
        self._encoder = PayloadEncoder()
        self._type_names: dict[object, str] = {}
        self._source_names: dict[object, str | None] = {None: None}
        self._publish_state = (
            self._seq, self._events, self._ring, self._finishes, self._finish_ring,
            self._deliveries, self._current, self._id_prefix, orjson.dumps,
            self._encoder.default, FAST_OPTIONS, self._type_names, self._source_names,
            batch_size,
        )  # fmt: skip

        self._writer: BatchWriter | None = (
            store.batch_writer() if _is_writer_source(store) else store  # type: ignore[assignment]
        )
        self._builder = BatchBuilder(self.correlation_id, self.tag, self._origin_ns)
        self._handoff_lock = threading.Lock()
        self._failure: BaseException | None = None
        self._stored = 0  # events in batches the writer committed
        self._queue: queue.Queue[Any] | None = None
        self._thread: threading.Thread | None = None
        if self._writer is not None and background:
            self._queue = queue.Queue(maxsize=max_pending_batches)
            self._thread = threading.Thread(
                target=self._write_loop, name=f"eventstore-writer-{self.tag}", daemon=True
            )
        # Close the run at interpreter exit if the program forgets to; a weak reference, so
        # this never keeps a tracer alive.
        self_ref = weakref.ref(self)

        def close_at_exit() -> None:
            tracer = self_ref()
            if tracer is not None:
                tracer._close_at_exit()

        self._atexit = close_at_exit
        atexit.register(close_at_exit)

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
        elif isinstance(exc, KeyboardInterrupt | SystemExit):
            self._end("interrupted", describe_interrupt(exc), raise_failure=False)
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
                # What the run holds: after a failed write or an interrupted hand-off, fewer
                # events than were recorded.
                event_count=self._stored,
                unencodable_count=self._encoder.unencodable_count,
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
        if self.status is None and self.event_count == 0:
            if self._writer is not None:  # never used: leave no empty run behind
                self._writer.close()
            return
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
        # itertools.count shows its next value only in its repr.
        return int(repr(self._seq)[6:-1]) - 1

    def _name_of_type(self, event_type: object) -> str:
        name = self._type_names[event_type] = str(event_type)
        return name

    def _name_of_source(self, source: object) -> str | None:
        name = source_name(source)
        with contextlib.suppress(TypeError):  # unhashable: named every time
            self._source_names[source] = name
        return name

    def _encode(self, payload: Any) -> str:
        return self._encoder.encode(payload)

    def _record_linked(
        self,
        event: Event,
        source: object,
        created: int,
        caused_by: Event | str | None,
        parents: Iterable[tuple[str, Event | str]],
        has_handlers: bool,
    ) -> tuple[int, int, tuple[int, ...]]:
        """The publish path for an event with named parents; returns (seq, root, parents)."""
        edges: list[tuple[str, int]] = []
        frame = self._current.get()
        if caused_by is not None:
            edges.append(("caused_by", self._resolve(caused_by)))
        elif frame is not None:
            edges.append(("caused_by", frame[FR_SEQ]))
        for kind, parent in parents:
            if not isinstance(kind, str) or not kind:
                raise ValueError(f"a lineage edge kind must be a non-empty string, got {kind!r}")
            edges.append((kind, self._resolve(parent)))
        seq = next(self._seq)
        if caused_by is None and frame is not None:
            root = frame[FR_ROOT]
            explicit = tuple(parent for _, parent in edges[1:])
        else:
            root = seq
            explicit = tuple(parent for _, parent in edges)
        for named in explicit:
            root = min(root, self._root_of(named))
        record: EventRecord = (
            seq,
            self._type_names.get(event.event_type) or self._name_of_type(event.event_type),
            event.timestamp,
            self._name_of_source(source),
            edges[0][1] if edges and edges[0][0] == "caused_by" else None,
            root,
            created,
            self._encode(event.payload),
            _partition_key(event.metadata),
            None if has_handlers else seq,
            tuple(edges),
        )
        self._ring.append(record)
        self._events.append(record)
        event.metadata["event_id"] = self._id_prefix + str(seq)
        self.raise_ends(explicit, seq)
        if frame is not None and frame[FR_DESC] < seq:
            frame[FR_DESC] = seq  # published while the frame's event was dispatching
        return seq, root, explicit

    def raise_ends(self, parents: Iterable[int], end: int) -> None:
        """Make the descendant range of ``parents`` and all their ancestors reach ``end``.

        Named parents publish children outside their own dispatch, so this keeps the pruning
        promise: ancestors of X have seq in [root_seq, X], descendants in (X, end_seq]. An
        ancestor that already left the ring makes the bounds unknowable: the run is then
        recorded with ``lineage_exact = false`` and queries stop pruning it.
        """
        pending = list(parents)
        seen: set[int] = set()
        while pending:
            seq = pending.pop()
            if seq in seen:
                continue
            seen.add(seq)
            self._finishes.append((seq, None, None, end))
            record = self._ring_record(seq)
            if record is None:
                self.lineage_exact = False
                continue
            if record[E_EXTRA] is not None:
                pending.extend(parent for _, parent in record[E_EXTRA])
            elif record[E_CAUSE] is not None:
                pending.append(record[E_CAUSE])

    def _root_of(self, seq: int) -> int:
        record = self._ring_record(seq)
        if record is None:
            self.lineage_exact = False
            return 0
        return record[E_ROOT]

    def _resolve(self, parent: Event | str) -> int:
        """The seq of a named parent: an Event published on this tracer, or its event_id."""
        pid = parent if isinstance(parent, str) else parent.metadata.get("event_id")
        seq = seq_of(pid, self.tag) if isinstance(pid, str) else None
        if seq is None or seq > self.event_count:
            raise ValueError(
                f"parent {pid!r} is not an event of run {self.correlation_id}: name a parent "
                "by an Event published on this tracer's bus or by its event_id"
            )
        return seq

    def _ring_record(self, seq: int) -> EventRecord | None:
        ring = self._ring
        if not ring:
            return None
        index = seq - ring[0][E_SEQ]
        if 0 <= index < len(ring) and ring[index][E_SEQ] == seq:
            return ring[index]
        # Threads may append slightly out of seq order: scan.
        return next((r for r in ring if r[E_SEQ] == seq), None)

    # ------------------------------------------------------------------ batches

    def _hand_off(self) -> None:
        """Send what is buffered to the writer; blocks while the writer is behind."""
        with self._handoff_lock:
            if self.status is None:
                self._start_locked()
            if self._thread is not None and self._thread.is_alive():
                assert self._queue is not None
                self._raise_failure()
                self._wait_for_room(self._queue)  # blocks when the writer is behind: no loss
                pending = self._take()
                if pending is not None:
                    self._queue.put_nowait(pending)
            else:
                pending = self._take()
                if pending is None:
                    return
                self._write(pending)
                self._raise_failure()

    @staticmethod
    def _wait_for_room(pending: queue.Queue[Any]) -> None:
        """Wait until the writer's queue has room, before taking the records: a Ctrl-C while
        waiting then leaves them buffered for ``close`` to write, instead of losing a batch.
        Only hand-offs (serialized by ``_handoff_lock``) put batches, so the room stays."""
        with pending.not_full:
            while len(pending.queue) >= pending.maxsize:
                pending.not_full.wait()

    def _take(self) -> _Pending | None:
        # Finishes first: a finish taken now has its event already appended, so an event is
        # never in a later batch than its finish.
        finishes = _take_prefix(self._finishes)
        events = _take_prefix(self._events)
        deliveries = _take_prefix(self._deliveries)
        if not events and not finishes and not deliveries:
            return None
        return _Pending(events, finishes, deliveries)

    def _write(self, pending: _Pending) -> None:
        if self._writer is None or self._failure is not None:
            return
        try:
            batch = self._builder.build(pending.events, pending.finishes, pending.deliveries)
            self._writer.write_batch(batch)
            self._stored += batch.num_events
        except Exception as exc:
            logger.error("run %s: writing a batch failed: %s", self.correlation_id, exc)
            self._failure = exc

    def _write_loop(self) -> None:
        assert self._queue is not None
        while True:
            try:
                item = self._queue.get(timeout=self.flush_interval)
            except queue.Empty:
                with self._handoff_lock:  # a periodic flush, in order with the hand-offs
                    if not self._queue.empty():
                        continue
                    item = self._take()
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
        seq, _, _ = self._record_linked(
            event, source_container, time.perf_counter_ns(), causation_id, (), False
        )
        if len(self._events) >= self.batch_size:
            self._hand_off()
        traced = self.event_index.get(self._id_prefix + str(seq))
        assert traced is not None
        return traced

    @property
    def traced_events(self) -> Sequence[TracedEvent]:
        """The most recent events (``ring_size`` of them), oldest first."""
        return _RecentEvents(self)

    @property
    def event_index(self) -> Mapping[str, TracedEvent]:
        """``event_id → TracedEvent`` for the events still in ``traced_events``."""
        return _EventIndex(self)

    def _finish_times(self) -> dict[int, FinishRecord]:
        return {f[F_SEQ]: f for f in list(self._finish_ring) if f[F_EMITTED] is not None}

    def _traced(self, record: EventRecord, finishes: Mapping[int, FinishRecord]) -> TracedEvent:
        finish = finishes.get(record[E_SEQ])
        cause = record[E_CAUSE]
        created = self._wall(record[E_CREATED])
        emitted = created if finish is None else self._wall(finish[F_EMITTED])
        processed = None if finish is None else self._wall(finish[F_PROCESSED])
        return TracedEvent(
            event_id=event_id(self.tag, record[E_SEQ]),
            event_type=record[E_TYPE],
            timestamp=record[E_TIME],
            correlation_id=self.correlation_id,
            causation_id=None if cause is None else event_id(self.tag, cause),
            source_container=record[E_SOURCE],
            created_at=created,
            emitted_at=emitted,
            received_at=None if finish is None else emitted,
            processed_at=processed,
            data=orjson.loads(record[E_PAYLOAD]),
            sequence_number=record[E_SEQ],
            partition_key=record[E_PARTITION],
        )

    @overload
    def _wall(self, ns: int) -> datetime: ...
    @overload
    def _wall(self, ns: int | None) -> datetime | None: ...
    def _wall(self, ns: int | None) -> datetime | None:
        if ns is None:
            return None
        return self.started_at + timedelta(microseconds=(ns - self._origin_ns) / 1000)


def describe_interrupt(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return f"SystemExit({exc.code})"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _is_writer_source(store: object) -> TypeGuard[WriterSource]:
    return hasattr(store, "batch_writer")


def _partition_key(metadata: Mapping[str, Any]) -> str | None:
    key = metadata.get("partition_key")
    return None if key is None else str(key)


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
        tracer = self._tracer
        finishes = tracer._finish_times()
        if isinstance(index, slice):
            return [tracer._traced(r, finishes) for r in list(tracer._ring)[index]]
        return tracer._traced(tracer._ring[index], finishes)

    def __iter__(self) -> Iterator[TracedEvent]:
        tracer = self._tracer
        finishes = tracer._finish_times()
        return (tracer._traced(r, finishes) for r in list(tracer._ring))


class _EventIndex(Mapping[str, TracedEvent]):
    """``event_id → TracedEvent`` over the ring: trimmed with it, so it never grows."""

    def __init__(self, tracer: EventTracer) -> None:
        self._tracer = tracer

    def __getitem__(self, key: str) -> TracedEvent:
        tracer = self._tracer
        seq = seq_of(key, tracer.tag) if isinstance(key, str) else None
        record = None if seq is None else tracer._ring_record(seq)
        if record is None:
            raise KeyError(key)
        return tracer._traced(record, tracer._finish_times())

    def __iter__(self) -> Iterator[str]:
        tag = self._tracer.tag
        return (event_id(tag, r[E_SEQ]) for r in list(self._tracer._ring))

    def __len__(self) -> int:
        return len(self._tracer._ring)
