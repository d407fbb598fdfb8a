"""The pure-Python recorder: the compiled recorder's twin, used when the extension can't be
imported or ``EVENTSTORE_PURE_PYTHON=1`` is set. Same API, same results (one contract suite).

It appends flat tuples of atomic values (``records.py``) to lists without a lock or any I/O and
turns them into Arrow columns only when drained (``batch.py``), off the publish path.

Open frames (for ``open_frames``, what a closing tracer waits for) are a dict of seq → thread
ident: a dispatch adds its entry when it begins and deletes it when it ends. Each is one dict
operation on an int key, which runs no Python code (an int's hash and equality are C), so it is
atomic under the GIL however threads interleave, and the closing thread reads a ``copy()``,
one atomic call too: no lock on the publish path (measured: ~0.1 µs per dispatch).
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from threading import get_ident
from time import perf_counter_ns as clock
from typing import Any

from orjson import dumps

from eventstore.bus import Handler
from eventstore.events import Event, metadata_not_writable, not_an_event, type_name
from eventstore.tracing.batch import CAUSED_BY, build_drained
from eventstore.tracing.lineage import Lineage, Links
from eventstore.tracing.pure_frames import (
    ENDED,
    OTHER_CONTEXT,
    S_CREATED,
    S_END,
    S_LINKS,
    S_NESTED,
    S_PARENT,
    S_RECEIVED,
    S_ROOT,
    S_SEQ,
    S_TOKEN,
    PureFrame,
    State,
    _name_ended_cause,
    _view,
    check_delivery,
    check_frame,
)
from eventstore.tracing.recorder import (
    Drained,
    ErrorHook,
    NamedHandlers,
    Parent,
    RecorderHooks,
    describe_error,
)
from eventstore.tracing.records import (
    E_CAUSE,
    E_ROOT,
    E_SEQ,
    DeliveryRecord,
    EventRecord,
    FinishRecord,
)


def _take_prefix(items: list[Any]) -> list[Any]:
    """Take everything in ``items``. Publishers append without a lock, so the list is never
    swapped: a prefix is copied and deleted, each step atomic under the GIL."""
    count = len(items)
    taken = items[:count]
    del items[:count]
    return taken


def _find(events: list[EventRecord], seq: int) -> tuple[int | None, int] | None:
    """(causation seq, root seq) of event ``seq`` if ``events`` holds it.

    Another thread may drain the list while this looks (its prefix is deleted): an index past
    its end then stops the search, and the caller looks where drained events went."""
    try:
        for index in range(len(events) - 1, -1, -1):
            record = events[index]
            if record[E_SEQ] == seq:
                return record[E_CAUSE], record[E_ROOT]
            if record[E_SEQ] < seq - 64:  # threads append nearly in seq order
                break
    except IndexError:
        pass
    return None


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
        self._last_drained: list[EventRecord] = []
        self._current: ContextVar[State | None] = ContextVar(
            f"eventstore_cause_{id_prefix}", default=None
        )
        self._type_names: dict[object, str] = {}
        self._source_names: dict[object, str | None] = {None: None}
        self._codes: dict[str, int] = {}
        self._names: list[str] = []
        self._code_lock = threading.Lock()
        self._lineage = Lineage(hooks.run_id, id_prefix, self, hooks.recent, hooks.lineage_memory)
        self._open: dict[int, int] = {}  # seq -> ident of the thread that began it, until ended
        self._closing = False  # begin_close() or close(): root events are refused
        self.closed = False

    # ------------------------------------------------------------------ state

    @property
    def event_count(self) -> int:
        # itertools.count shows its next value only in its repr.
        return int(repr(self._seq)[6:-1]) - 1

    @property
    def pending(self) -> int:
        return len(self._events)

    @property
    def lineage_exact(self) -> bool:
        return self._lineage.exact

    def clock(self) -> int:
        return clock()

    def current(self) -> PureFrame | None:
        state = self._current.get()
        return None if state is None else _view(state)

    def close(self) -> None:
        self._closing = self.closed = True

    def begin_close(self) -> None:
        self._closing = True

    def open_frames(self) -> list[tuple[int, int]]:
        return sorted(self._open.copy().items())

    # ------------------------------------------------------------------ recording

    def _record(
        self, event: Event, source: object, links: Links | None, has_handlers: bool
    ) -> State:
        """Record ``event`` (any links, resolved; the slow path); returns its dispatch state."""
        hooks = self._hooks
        parent = self._current.get()
        # closing: only the dispatches still open go on (what their handlers publish)
        if self._closing and (self.closed or parent is None or parent[S_TOKEN] is ENDED):
            raise hooks.closed_error(hooks.closed_message)
        created = clock()
        if parent is not None and parent[S_TOKEN] is ENDED and (links is None or links[0] is None):
            links = _name_ended_cause(parent, links)
        payload = self._encode(event)
        try:  # every attribute read before the seq is taken: a failed publish leaves no gap
            key = event.event_type
            timestamp = event.timestamp
            metadata = event.metadata
        except AttributeError:
            raise not_an_event(event) from None
        if type(metadata) is not dict and not hasattr(type(metadata), "__setitem__"):
            raise metadata_not_writable(metadata)
        try:
            type_name = self._type_names[key]
            source_name = self._source_names[source]
        except (KeyError, TypeError):
            type_name = self._name_type(key)
            source_name = self._name_source(source)
        partition = metadata.get("partition_key") if metadata else None
        named: tuple[tuple[int, ...], tuple[int, ...]] | None = None
        extra: tuple[tuple[str, int], ...] | None = None
        cause = None if parent is None else parent[S_SEQ]
        root = None if parent is None else parent[S_ROOT]  # None: the event's own seq
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
            # the parents to raise at its end, and all its parents (primary first) to remember
            named = (explicit, tuple(p for _, p in extra))
        with self._append_lock:  # see publish
            seq = next(self._seq)
            self._events.append(
                (
                    seq, type_name, timestamp, source_name, cause,
                    seq if root is None else root, created, payload,
                    None if partition is None else str(partition),
                    None if has_handlers else seq, extra,
                )
            )  # fmt: skip
        metadata["event_id"] = self._id_prefix + str(seq)
        if parent is not None and parent[S_END] < seq:
            parent[S_END] = seq
        if len(self._events) >= 2 * self._batch_size:
            hooks.on_full()
        return [seq, seq if root is None else root, seq, 0, parent, named, None, created, None,
                None]  # fmt: skip

    def _encode(self, event: Event) -> str:
        """``event``'s payload as JSON: orjson, else ``hooks.encode`` (which never raises);
        what is no event is a ``TypeError`` (``not_an_event``), as in ``_recorder.c``."""
        hooks = self._hooks
        try:
            payload = event.payload
        except AttributeError:
            raise not_an_event(event) from None
        try:
            return dumps(payload, hooks.json_default, hooks.json_options).decode()
        except Exception:
            return hooks.encode(payload)

    def _name_type(self, key: object) -> str:
        """A new type is checked once, here (same text as ``type_code`` in ``_recorder.c``)."""
        name = type_name(key)
        if not name:
            raise ValueError("event_type must not be empty: name the type of the event")
        self._type_names[key] = name
        return name

    def _name_source(self, source: object) -> str | None:
        name = self._hooks.name_of_source(source)
        with contextlib.suppress(TypeError):  # unhashable: named every time
            self._source_names[source] = name
        return name

    def _links(
        self, caused_by: Parent | None, parents: Iterable[tuple[str, Parent]]
    ) -> Links | None:
        """The causes a publisher named, resolved (None when it named none)."""
        if caused_by is None and not parents:
            return None
        return self._lineage.links(caused_by, parents)

    def begin(
        self,
        event: Event,
        source: object = None,
        caused_by: Parent | None = None,
        parents: Iterable[tuple[str, Parent]] = (),
    ) -> PureFrame:
        state = self._record(event, source, self._links(caused_by, parents), True)
        state[S_TOKEN] = self._current.set(state)
        self._open[state[S_SEQ]] = get_ident()
        return _view(state)

    def delivered(
        self,
        frame: PureFrame,
        handler: str,
        received_ns: int,
        processed_ns: int,
        error: str | None = None,
    ) -> None:
        received_ns, processed_ns = check_delivery(frame, handler, received_ns, processed_ns, error)
        if self.closed:  # it would never be drained: refused, as begin does
            raise self._hooks.closed_error(self._hooks.closed_message)
        state = frame.state
        inclusive = processed_ns - received_ns
        nested = state[S_NESTED]  # may exceed it: see _recorder.c's add_delivery
        self_ns = inclusive - nested if nested < inclusive else 0
        self._deliveries.append((state[S_SEQ], handler, received_ns, processed_ns, self_ns, error))
        state[S_NESTED] = 0
        if state[S_RECEIVED] is None:
            state[S_RECEIVED] = received_ns
        if state[S_PARENT] is not None:
            state[S_PARENT][S_NESTED] += inclusive

    def end(self, frame: PureFrame) -> None:
        check_frame(frame)
        state = frame.state
        token = state[S_TOKEN]
        if token is ENDED:
            raise ValueError(f"the frame of event {state[S_SEQ]} has already ended")
        state[S_TOKEN] = ENDED
        other_context = False
        if token is not None:  # begun by begin(), not a publish's frame (publish ends those)
            del self._open[state[S_SEQ]]
            try:
                self._current.reset(token)
            except ValueError:  # the token's context is not this one
                other_context = True
        received = state[S_RECEIVED]
        self._finish(state, state[S_CREATED] if received is None else received)
        if other_context:
            raise ValueError(OTHER_CONTEXT % state[S_SEQ])

    def _finish(self, state: State, emitted: int) -> None:
        end = state[S_END]
        self._finishes.append((state[S_SEQ], emitted, end))
        if state[S_LINKS] is not None:
            self._end_links(state, end)
        parent = state[S_PARENT]
        if parent is not None:
            if parent[S_END] < end:
                parent[S_END] = end
        elif len(self._events) >= self._batch_size:
            self._hooks.on_full()

    def publish(
        self,
        event: Event,
        source: object,
        handlers: NamedHandlers,
        dispatch: Callable[[Event, Handler], object] | None = None,
        on_error: ErrorHook | None = None,
        caused_by: Parent | None = None,
        parents: Iterable[tuple[str, Parent]] = (),
    ) -> None:
        # Every line runs for every event: locals over attributes, no call that can be avoided
        # (the slow path, ``_record``, is taken only for named causes or a closing recorder).
        events = self._events
        fast = caused_by is None and not parents and not self._closing
        if fast:
            parent = self._current.get()
            fast = parent is None or parent[S_TOKEN] is not ENDED  # else: _name_ended_cause
        if fast:
            created = clock()
            hooks = self._hooks
            try:
                payload = dumps(event.payload, hooks.json_default, hooks.json_options).decode()
            except Exception:
                payload = self._encode(event)  # the slow way, or the error for no event
            try:  # every attribute read before the seq is taken: a failed publish leaves no gap
                key = event.event_type
                timestamp = event.timestamp
                metadata = event.metadata
            except AttributeError:
                raise not_an_event(event) from None
            if type(metadata) is not dict and not hasattr(type(metadata), "__setitem__"):
                raise metadata_not_writable(metadata)
            try:
                type_name = self._type_names[key]
                source_name = self._source_names[source]
            except (KeyError, TypeError):
                type_name = self._name_type(key)
                source_name = self._name_source(source)
            partition = metadata.get("partition_key") if metadata else None
            # Seq and append under one lock: drained rows stay consecutive and in seq order
            # even when threads publish at once.
            with self._append_lock:
                seq = next(self._seq)
                root = seq if parent is None else parent[S_ROOT]
                events.append(
                    (
                        seq, type_name, timestamp, source_name,
                        None if parent is None else parent[S_SEQ], root, created, payload,
                        None if partition is None else str(partition),
                        None if handlers else seq, None,
                    )
                )  # fmt: skip
            metadata["event_id"] = self._id_prefix + str(seq)
            if not handlers:
                if parent is not None:
                    if parent[S_END] < seq:
                        parent[S_END] = seq
                    if len(events) >= 2 * self._batch_size:
                        hooks.on_full()
                elif len(events) >= self._batch_size:
                    hooks.on_full()
                return
            state: State = [seq, root, seq, 0, parent, None, None, created, None, None]
        else:
            state = self._record(event, source, self._links(caused_by, parents), bool(handlers))
            if not handlers:
                self._finish(state, state[S_CREATED])
                return
            parent = state[S_PARENT]
            seq = state[S_SEQ]
        deliveries = self._deliveries
        token = self._current.set(state)
        open_frames = self._open
        open_frames[seq] = get_ident()
        # One clock read per handler boundary: a handler is received when the previous returned.
        emitted = received = clock()
        try:
            for handler, name in handlers:
                state[S_NESTED] = 0
                try:
                    if dispatch is None:
                        handler(event)
                    else:
                        dispatch(event, handler)
                except BaseException as exc:
                    done = clock()
                    inclusive = done - received
                    nested = state[S_NESTED]
                    deliveries.append(
                        (seq, name, received, done,
                         inclusive - nested if nested < inclusive else 0, describe_error(exc))
                    )  # fmt: skip
                    if parent is not None:
                        parent[S_NESTED] += inclusive
                    received = done
                    if on_error is None or not isinstance(exc, Exception):
                        raise
                    on_error(exc, name, event)
                    received = clock()  # the hook's time (logging the error) is no handler's
                    continue
                done = clock()
                inclusive = done - received
                nested = state[S_NESTED]  # may exceed it: see _recorder.c's add_delivery
                deliveries.append(
                    (
                        seq,
                        name,
                        received,
                        done,
                        inclusive - nested if nested < inclusive else 0,
                        None,
                    )
                )
                if parent is not None:
                    parent[S_NESTED] += inclusive
                received = done
        finally:
            self._current.reset(token)
            state[S_TOKEN] = ENDED
            del open_frames[seq]
            end = state[S_END]
            self._finishes.append((seq, emitted, end))
            if state[S_LINKS] is not None:
                self._end_links(state, end)
            if parent is not None:
                if parent[S_END] < end:
                    parent[S_END] = end
            elif len(events) >= self._batch_size:
                self._hooks.on_full()

    def _end_links(self, state: State, end: int) -> None:
        """An event with named causes ended: its named parents' and their ancestors' end_seq
        reach ``end``; all its parents are remembered for later walks."""
        raised, parents = state[S_LINKS]
        try:
            self._lineage.raise_ends(raised, end)
        finally:
            self._lineage.remember(state[S_SEQ], parents)

    def raise_end(self, seq: int, end: int) -> None:
        self._finishes.append((seq, None, end))

    def lookup(self, seq: int) -> tuple[int | None, int] | None:
        return _find(self._events, seq) or _find(self._last_drained, seq)

    # ------------------------------------------------------------------ draining

    def drain(self) -> Drained:
        # Finishes and deliveries first: one taken now has its event already appended, so an
        # event is never in a later batch than its finish or its deliveries. (Taken after the
        # events, a publisher in another thread could add an event and its delivery in between:
        # the delivery would be stored a batch before its event, and a SIGKILL between the two
        # batches would keep the delivery of an event never stored.)
        finishes = _take_prefix(self._finishes)
        deliveries = _take_prefix(self._deliveries)
        # A batch stays findable by lookup() until the next one is drained: the tracer's ring
        # gets it a step later, and a publisher in another thread may run in between. Kept
        # before it leaves the buffer, so every event is always in one of the two.
        count = len(self._events)
        events = self._events[:count]
        if events:
            self._last_drained = events
        del self._events[:count]
        origin, code, names = self.origin_ns, self._code, self._names
        # Taking the lists is all the publishing thread pays: Arrow conversion happens where the
        # tables are first used (the writer thread), as it did before the recorder existed.
        return Drained.deferred(
            len(events),
            not (events or finishes or deliveries),
            lambda: build_drained(events, finishes, deliveries, origin, code, names),
        )

    def snapshot(self) -> Drained:
        return Drained(
            *build_drained(
                list(self._events),
                list(self._finishes),
                list(self._deliveries),
                self.origin_ns,
                self._code,
                self._names,
            )
        )

    def _code(self, name: str) -> int:
        # Batches are built on the writer thread and snapshots on the caller's: a name must get
        # one code, and ``names[code]`` must be that name, whichever thread codes it first.
        with self._code_lock:
            code = self._codes.get(name)
            if code is None:
                code = self._codes[name] = len(self._names)
                self._names.append(name)
            return code
