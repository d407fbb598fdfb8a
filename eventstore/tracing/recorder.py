"""The Recorder: the only writer of a run's trace buffers.

Every bus records through one small API, so the hot path lives in one place:

- ``begin(event, source, caused_by, parents)`` gives the event its seq and id
  (``event.metadata["event_id"]``), records it with its cause (the event being handled in this
  thread or asyncio task, unless ``caused_by`` names another) and the extra ``(kind, parent)``
  edges of ``parents``, and makes it the current cause until ``end``. It returns a ``Frame``.
  A context copied meanwhile (an asyncio task or thread a handler started) keeps the event as
  its cause after ``end``: what it publishes then is recorded as if ``caused_by`` named it.
- ``delivered(frame, handler, received_ns, processed_ns, error)`` records one handler call;
  its self time is its inclusive time minus the deliveries nested inside it (those of events
  published in its context, by a task or a thread it started too: concurrent, they may add up
  to more than it, and its self time is then 0, never negative).
- ``end(frame)`` closes the event's dispatch: its ``end_seq`` (the last seq published while it
  was dispatched, so its descendants are ``seq ∈ (seq, end_seq]``) and ``emitted_ns``; for an
  event with named parents, those parents' and their ancestors' ``end_seq`` reach it too
  (``lineage.py`` says why and how).
- ``publish(event, source, handlers, dispatch, on_error, caused_by, parents)`` is begin, each
  handler timed and delivered, end: what ``TracedEventBus`` calls, in one call.
- ``drain()`` takes everything recorded so far as Arrow tables (``Drained``).
- ``begin_close()`` then ``close()``: a run closes in two steps, so that a dispatch still
  running in another thread can finish: after ``begin_close`` a new root event is refused, but
  the dispatches still open go on (their deliveries, their ends, and what their handlers
  publish are recorded) until ``close``, which refuses everything. ``open_frames()`` lists the
  frames begun and not ended with the thread that began each: what the tracer waits for
  between the two (``closing.py``).

Two implementations share this API and one contract suite: a compiled one
(``eventstore.tracing._recorder``, C with the CPython API: typed column buffers that become
Arrow arrays without per-value conversion) and a pure-Python twin (``pure_recorder``), used when
the extension can't be imported or ``EVENTSTORE_PURE_PYTHON=1`` is set.

Clock readings (``*_ns``) are ``time.perf_counter_ns()`` values (``clock()``); drained tables
hold them as nanoseconds since ``origin_ns``, the recorder's creation.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import pyarrow as pa

from eventstore.bus import Handler
from eventstore.events import Event

Parent = Event | str
"""A parent a publisher names: an event published on this run's bus, or its ``event_id``."""

Lookup = Callable[[int], tuple[int | None, int] | None]
"""``(causation_seq, root_seq)`` of the event of a seq, or None when it is not known."""

NamedHandlers = tuple[tuple[Handler, str], ...]
"""A type's handlers in call order, each with the name its deliveries are recorded under."""

ErrorHook = Callable[[Exception, str, Event], None]
"""Called with (error, handler name, event) when a handler raises an ``Exception`` and the bus
logs handler errors instead of raising them; returning goes on with the next handler."""


def describe_error(exc: BaseException) -> str:
    """A delivery's or a run's error: ``Type: message``, or ``Type`` for an exception without
    a message (``describe_error`` in ``_recorder.c`` writes the same). An exception whose
    ``__str__`` raises is described, not raised again: recording the error of a handler, or of a
    run, must not fail the publish or leave the run open."""
    try:
        text = str(exc)
    except Exception:
        text = "<exception str() failed>"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Frame(Protocol):
    """One event's dispatch, as the recorder tracks it (the current cause while it runs)."""

    @property
    def seq(self) -> int: ...

    @property
    def root(self) -> int: ...

    @property
    def end(self) -> int:
        """The largest seq published during this dispatch so far."""
        ...


Tables = tuple[pa.Table, pa.Table, pa.Table, pa.Table, tuple[str, ...]]


class Drained:
    """What ``drain`` takes: tables in ``eventstore.tracing.writer``'s schemas, ``*_ns`` since
    ``origin_ns``; ``names`` holds every name coded so far (index = code).

    A recorder may hand its records over ``deferred``: the tables are then built on first use,
    by whoever uses them first (the writer thread, or a view of recent events), not on the
    publishing thread that drained them.
    """

    __slots__ = ("_build", "_tables", "empty", "num_events")

    def __init__(
        self,
        events: pa.Table,
        edges: pa.Table,
        deliveries: pa.Table,
        end_updates: pa.Table,
        names: tuple[str, ...],
    ) -> None:
        self._tables: Tables | None = (events, edges, deliveries, end_updates, names)
        self._build: Callable[[], Tables] | None = None
        self.num_events = int(events.num_rows)
        self.empty = not (
            events.num_rows or edges.num_rows or deliveries.num_rows or end_updates.num_rows
        )

    @classmethod
    def deferred(cls, num_events: int, empty: bool, build: Callable[[], Tables]) -> Drained:
        drained = cls.__new__(cls)
        drained._tables = None
        drained._build = build
        drained.num_events = num_events
        drained.empty = empty
        return drained

    def _built(self) -> Tables:
        tables = self._tables
        if tables is None:
            with _BUILDING:
                tables = self._tables
                if tables is None:
                    assert self._build is not None
                    tables = self._tables = self._build()
                    self._build = None
        return tables

    @property
    def events(self) -> pa.Table:
        return self._built()[0]

    @property
    def edges(self) -> pa.Table:
        return self._built()[1]

    @property
    def deliveries(self) -> pa.Table:
        return self._built()[2]

    @property
    def end_updates(self) -> pa.Table:
        return self._built()[3]

    @property
    def names(self) -> tuple[str, ...]:
        return self._built()[4]


_BUILDING = threading.Lock()  # deferred builds code names in drain order, one at a time


@dataclass(frozen=True, slots=True)
class RecorderHooks:
    """What a recorder calls back into; all run on the publishing thread.

    ``encode``: the payload encoder's fallback, for payloads ``orjson.dumps(payload,
    default=json_default, option=json_options)`` can't encode; it never raises.
    ``name_of_source``: the recorded name of a publisher (called once per new source).
    ``on_full``: a root event's dispatch ended with ``batch_size`` or more events buffered (or a
    dispatch has buffered twice that): hand them off.
    ``recent``: ``(causation_seq, root_seq)`` of a drained event the tracer still keeps (its
    ring of recent batches), else None: where lineage looks for a named parent or an ancestor
    that left the recorder's buffer (``lineage.py``).
    ``closed_error``: raised by ``begin``/``publish`` after ``close()``, with ``closed_message``.
    ``run_id``: named in the error for a parent that is not an event of this run.
    ``lineage_memory``: how many events with named parents keep their parents in memory for
    later ancestor walks (the ring's size: both bound what lineage can see).
    """

    encode: Callable[[Any], str]
    json_default: Callable[[Any], Any]
    json_options: int
    name_of_source: Callable[[object], str | None]
    on_full: Callable[[], None]
    recent: Lookup
    closed_error: type[Exception]
    closed_message: str
    run_id: str
    lineage_memory: int


class Recorder(Protocol):
    """The API both implementations provide (see the module docstring).

    Constructed as ``Recorder(id_prefix, batch_size, hooks)``: event ids are
    ``id_prefix + str(seq)``, seqs start at 1.
    """

    @property
    def origin_ns(self) -> int: ...

    @property
    def event_count(self) -> int:
        """Events begun so far (the last seq assigned)."""
        ...

    @property
    def pending(self) -> int:
        """Events recorded and not drained yet."""
        ...

    @property
    def closed(self) -> bool: ...

    @property
    def lineage_exact(self) -> bool:
        """False once a named parent's ancestors had left memory: their ``end_seq`` may fall
        short of a descendant, so descendant queries must not prune this run by seq range
        until a store recomputes its bounds (roots stay true lower bounds)."""
        ...

    def clock(self) -> int: ...

    def current(self) -> Frame | None:
        """The frame of the event being handled in this thread or asyncio task, if any."""
        ...

    def begin(
        self,
        event: Event,
        source: object = None,
        caused_by: Parent | None = None,
        parents: Iterable[tuple[str, Parent]] = (),
    ) -> Frame: ...

    def delivered(
        self,
        frame: Frame,
        handler: str,
        received_ns: int,
        processed_ns: int,
        error: str | None = None,
    ) -> None:
        """One handler call of ``frame``'s event: ``handler`` its name (a string), the
        ``clock()`` readings when it started and returned (in that order: else a
        ``ValueError``), ``error`` what it raised, if anything."""
        ...

    def end(self, frame: Frame) -> None:
        """The dispatch of ``frame``'s event is over. Call it in the thread or asyncio task
        that called ``begin``: elsewhere the event is ended all the same, but the
        ``ValueError`` raised says that ``begin``'s context still has it as its cause."""
        ...

    def publish(
        self,
        event: Event,
        source: object,
        handlers: NamedHandlers,
        dispatch: Callable[[Event, Handler], object] | None = None,
        on_error: ErrorHook | None = None,
        caused_by: Parent | None = None,
        parents: Iterable[tuple[str, Parent]] = (),
    ) -> None: ...

    def raise_end(self, seq: int, end: int) -> None:
        """Make ``end_seq`` of event ``seq`` at least ``end`` (drained or not)."""
        ...

    def lookup(self, seq: int) -> tuple[int | None, int] | None:
        """(causation_seq, root_seq) of an event still buffered or in the batch drained last
        (the tracer's ring gets a batch a step after the drain), else None."""
        ...

    def drain(self) -> Drained: ...

    def snapshot(self) -> Drained:
        """What ``drain`` would take, left in place (for views of recent events)."""
        ...

    def begin_close(self) -> None:
        """Refuse new root events (``closed_error``); the dispatches still open go on: their
        deliveries, ends and the events their handlers publish are recorded until ``close``."""
        ...

    def open_frames(self) -> list[tuple[int, int]]:
        """``(seq, thread ident)`` of every frame begun and not ended, oldest first; the ident
        is ``threading.get_ident()`` of the thread that began it. A compiled frame dropped
        unended (nothing can end it any more) leaves the list; a pure-Python one stays."""
        ...

    def close(self) -> None:
        """Refuse further events and deliveries; what is buffered can still be drained."""
        ...
