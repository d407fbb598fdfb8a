"""The pure-Python recorder: the compiled recorder's twin, used when the extension can't be
imported or ``EVENTSTORE_PURE_PYTHON=1`` is set. Same API, same results (one contract suite).

It appends flat tuples of atomic values (``records.py``) to lists without a lock or any I/O and
turns them into Arrow columns only when drained (``batch.py``), off the publish path.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Callable
from contextvars import ContextVar, Token
from time import perf_counter_ns as clock
from typing import Any

import orjson

from eventstore.bus import Handler
from eventstore.events import Event
from eventstore.tracing.batch import CAUSED_BY, build_drained
from eventstore.tracing.recorder import Drained, ErrorHook, Links, NamedHandlers, RecorderHooks
from eventstore.tracing.records import (
    E_CAUSE,
    E_ROOT,
    E_SEQ,
    DeliveryRecord,
    EventRecord,
    FinishRecord,
)


class PureFrame:
    """One event's dispatch: the current cause while its handlers run.

    ``nested`` sums the inclusive time of deliveries nested in the running handler (reset for
    each handler), so a delivery's self time is its own time minus it.
    """

    __slots__ = (
        "created",
        "end",
        "explicit",
        "nested",
        "parent",
        "received",
        "root",
        "seq",
        "token",
    )

    def __init__(
        self, seq: int, root: int, explicit: tuple[int, ...] | None, parent: PureFrame | None
    ) -> None:
        self.seq = seq
        self.root = root
        self.end = seq
        self.explicit = explicit
        self.parent = parent
        self.nested = 0
        self.created = 0
        self.received: int | None = None
        self.token: Token[PureFrame | None] | None = None


def describe_error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _take_prefix(items: list[Any]) -> list[Any]:
    """Take everything in ``items``. Publishers append without a lock, so the list is never
    swapped: a prefix is copied and deleted, each step atomic under the GIL."""
    count = len(items)
    taken = items[:count]
    del items[:count]
    return taken


class PureRecorder:
    """See ``eventstore.tracing.recorder`` for the API and its promises."""

    def __init__(self, id_prefix: str, batch_size: int, hooks: RecorderHooks) -> None:
        self.origin_ns = clock()
        self._id_prefix = id_prefix
        self._batch_size = batch_size
        self._hooks = hooks
        self._seq = itertools.count(1)
        self._append_lock = threading.Lock()
        self._events: list[EventRecord] = []
        self._finishes: list[FinishRecord] = []
        self._deliveries: list[DeliveryRecord] = []
        self._current: ContextVar[PureFrame | None] = ContextVar(
            f"eventstore_cause_{id_prefix}", default=None
        )
        self._type_names: dict[object, str] = {}
        self._source_names: dict[object, str | None] = {None: None}
        self._codes: dict[str, int] = {}
        self._names: list[str] = []
        self.closed = False

    # ------------------------------------------------------------------ state

    @property
    def event_count(self) -> int:
        # itertools.count shows its next value only in its repr.
        return int(repr(self._seq)[6:-1]) - 1

    @property
    def pending(self) -> int:
        return len(self._events)

    def clock(self) -> int:
        return clock()

    def current(self) -> PureFrame | None:
        return self._current.get()

    def close(self) -> None:
        self.closed = True

    # ------------------------------------------------------------------ recording

    def _record(
        self, event: Event, source: object, links: Links | None, has_handlers: bool
    ) -> PureFrame:
        """Record ``event``; returns its frame (not made current)."""
        hooks = self._hooks
        if self.closed:
            raise hooks.closed_error(hooks.closed_message)
        created = clock()
        parent = self._current.get()
        payload = self._encode(event.payload)
        key = event.event_type
        try:
            type_name = self._type_names[key]
            source_name = self._source_names[source]
        except (KeyError, TypeError):
            type_name = self._name_type(key)
            source_name = self._name_source(source)
        metadata = event.metadata
        partition = metadata.get("partition_key") if metadata else None
        explicit: tuple[int, ...] | None = None
        extra: tuple[tuple[str, int], ...] | None = None
        cause = None if parent is None else parent.seq
        root = None if parent is None else parent.root  # None: the event's own seq
        if links is not None:
            named_cause, min_root, extra_edges = links
            if named_cause is not None:
                cause, root = named_cause, None
            explicit = (() if named_cause is None else (named_cause,)) + tuple(
                p for _, p in extra_edges
            )
            if min_root is not None and (root is None or min_root < root):
                root = min_root  # a named parent's root is older than any new seq
            extra = (((CAUSED_BY, cause),) if cause is not None else ()) + extra_edges
        # Seq and append under one lock: drained rows stay consecutive and in seq order even
        # when threads publish at once.
        with self._append_lock:
            seq = next(self._seq)
            self._events.append(
                (
                    seq, type_name, event.timestamp, source_name, cause,
                    seq if root is None else root, created, payload,
                    None if partition is None else str(partition),
                    None if has_handlers else seq, extra,
                )
            )  # fmt: skip
        if root is None:
            root = seq
        metadata["event_id"] = self._id_prefix + str(seq)
        frame = PureFrame(seq, root, explicit or None, parent)
        frame.created = created
        if parent is not None and parent.end < seq:
            parent.end = seq
        if len(self._events) >= 2 * self._batch_size:
            hooks.on_full()
        return frame

    def _encode(self, payload: Any) -> str:
        hooks = self._hooks
        try:
            return orjson.dumps(payload, hooks.json_default, hooks.json_options).decode()
        except Exception:
            return hooks.encode(payload)

    def _name_type(self, key: object) -> str:
        name = self._type_names[key] = str(key)
        return name

    def _name_source(self, source: object) -> str | None:
        name = self._hooks.name_of_source(source)
        with contextlib.suppress(TypeError):  # unhashable: named every time
            self._source_names[source] = name
        return name

    def begin(self, event: Event, source: object = None, links: Links | None = None) -> PureFrame:
        frame = self._record(event, source, links, True)
        frame.token = self._current.set(frame)
        return frame

    def delivered(
        self,
        frame: PureFrame,
        handler: str,
        received_ns: int,
        processed_ns: int,
        error: str | None = None,
    ) -> None:
        inclusive = processed_ns - received_ns
        self._deliveries.append(
            (frame.seq, handler, received_ns, processed_ns, inclusive - frame.nested, error)
        )
        frame.nested = 0
        if frame.received is None:
            frame.received = received_ns
        if frame.parent is not None:
            frame.parent.nested += inclusive

    def end(self, frame: PureFrame) -> None:
        if frame.token is not None:
            self._current.reset(frame.token)
            frame.token = None
        self._finish(frame, frame.created if frame.received is None else frame.received)

    def _finish(self, frame: PureFrame, emitted: int) -> None:
        end = frame.end
        self._finishes.append((frame.seq, emitted, end))
        if frame.explicit:
            self._hooks.raise_ends(frame.explicit, end)
        parent = frame.parent
        if parent is not None:
            if parent.end < end:
                parent.end = end
        elif len(self._events) >= self._batch_size:
            self._hooks.on_full()

    def publish(
        self,
        event: Event,
        source: object,
        handlers: NamedHandlers,
        dispatch: Callable[[Event, Handler], object] | None = None,
        on_error: ErrorHook | None = None,
        links: Links | None = None,
    ) -> None:
        frame = self._record(event, source, links, bool(handlers))
        if not handlers:
            if frame.explicit:
                self._hooks.raise_ends(frame.explicit, frame.seq)
            if frame.parent is None and len(self._events) >= self._batch_size:
                self._hooks.on_full()
            return
        deliveries = self._deliveries
        parent = frame.parent
        seq = frame.seq
        token = self._current.set(frame)
        # One clock read per handler boundary: a handler is received when the previous returned.
        emitted = received = clock()
        try:
            for handler, name in handlers:
                frame.nested = 0
                try:
                    if dispatch is None:
                        handler(event)
                    else:
                        dispatch(event, handler)
                except BaseException as exc:
                    done = clock()
                    inclusive = done - received
                    deliveries.append(
                        (seq, name, received, done, inclusive - frame.nested, describe_error(exc))
                    )
                    if parent is not None:
                        parent.nested += inclusive
                    received = done
                    if on_error is None or not isinstance(exc, Exception):
                        raise
                    on_error(exc, name, event)
                    continue
                done = clock()
                inclusive = done - received
                deliveries.append((seq, name, received, done, inclusive - frame.nested, None))
                if parent is not None:
                    parent.nested += inclusive
                received = done
        finally:
            self._current.reset(token)
            self._finish(frame, emitted)

    def raise_end(self, seq: int, end: int) -> None:
        self._finishes.append((seq, None, end))

    def lookup(self, seq: int) -> tuple[int | None, int] | None:
        events = self._events
        for index in range(len(events) - 1, -1, -1):
            record = events[index]
            if record[E_SEQ] == seq:
                return record[E_CAUSE], record[E_ROOT]
            if record[E_SEQ] < seq - 64:  # threads append nearly in seq order
                break
        return None

    # ------------------------------------------------------------------ draining

    def drain(self) -> Drained:
        # Finishes first: a finish taken now has its event already appended, so an event is
        # never in a later batch than its finish.
        finishes = _take_prefix(self._finishes)
        events = _take_prefix(self._events)
        deliveries = _take_prefix(self._deliveries)
        return build_drained(events, finishes, deliveries, self.origin_ns, self._code, self._names)

    def snapshot(self) -> Drained:
        return build_drained(
            list(self._events),
            list(self._finishes),
            list(self._deliveries),
            self.origin_ns,
            self._code,
            self._names,
        )

    def _code(self, name: str) -> int:
        code = self._codes.get(name)
        if code is None:
            code = self._codes[name] = len(self._codes)
            self._names.append(name)
        return code
