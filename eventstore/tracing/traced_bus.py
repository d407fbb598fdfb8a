"""TracedEventBus: an EventBus that records every published event and every delivery."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from time import perf_counter_ns as clock
from typing import Any

from eventstore.bus import EventBus, Handler, HandlerErrorPolicy, handler_name
from eventstore.events import Event, EventType
from eventstore.tracing.records import FR_DESC, FR_ROOT, FR_SEQ
from eventstore.tracing.tracer import EventTracer

logger = logging.getLogger(__name__)


def describe_error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class TracedEventBus(EventBus):
    """Records lineage while it dispatches.

    The event whose handlers are running is the cause of anything published meanwhile (per
    thread and per asyncio task). ``caused_by`` names a different primary cause (e.g. a FILL
    published on a later BAR is caused by its ORDER); ``parents`` adds more edges with a kind,
    e.g. ``parents=[("priced_by", bar)]``. Each handler call is a delivery with its own
    received/processed times and error. Without a tracer it is a plain ``EventBus``.
    """

    def __init__(self, name: str, *, on_handler_error: HandlerErrorPolicy = "raise") -> None:
        super().__init__(name, on_handler_error=on_handler_error)
        self.tracer: EventTracer | None = None
        self._named_handlers: dict[str, tuple[tuple[Handler, str], ...]] = {}
        # Call handlers directly unless a subclass wraps each delivery.
        overridden = type(self)._dispatch_event is not EventBus._dispatch_event
        self._custom_dispatch = self._dispatch_event if overridden else None

    def set_tracer(self, tracer: EventTracer | None) -> None:
        """Record every event published from now on with ``tracer`` (None stops tracing)."""
        self.tracer = tracer
        if tracer is not None:
            logger.info("bus %r tracing with correlation_id %s", self.name, tracer.correlation_id)

    def subscribe(self, event_type: EventType | str, handler: Handler) -> None:
        super().subscribe(event_type, handler)
        self._refresh_names(str(event_type))

    def unsubscribe(self, event_type: EventType | str, handler: Handler) -> None:
        super().unsubscribe(event_type, handler)
        self._refresh_names(str(event_type))

    def _refresh_names(self, key: str) -> None:
        handlers = self._handlers.get(key, ())
        self._named_handlers[key] = tuple((h, handler_name(h)) for h in handlers)

    def publish(
        self,
        event: Event,
        source: object = None,
        *,
        caused_by: Event | str | None = None,
        parents: Iterable[tuple[str, Event | str]] = (),
    ) -> None:
        """Record ``event`` (published by ``source``: a container, a name or None), then
        dispatch it to its handlers before returning."""
        tracer = self.tracer
        if tracer is None:
            EventBus.publish(self, event)
            return
        # Every line here runs for every event: locals over attributes, no calls that can be
        # avoided. The tracer's buffers are lists that are never replaced, so holding them in
        # locals is safe (see EventTracer._take).
        (
            next_seq, events, ring, finishes, finish_ring, deliveries, current, id_prefix,
            dumps, json_default, json_options, type_names, source_names, batch_size,
        ) = tracer._publish_state  # fmt: skip
        created = clock()
        key = event.event_type
        handlers = self._named_handlers.get(key)
        parent = current.get()
        if caused_by is None and not parents:
            seq = next(next_seq)
            root = seq if parent is None else parent[FR_ROOT]
            explicit = None
            try:
                payload = dumps(event.payload, json_default, json_options).decode()
            except Exception:
                payload = tracer._encode(event.payload)
            try:
                type_name = type_names[key]
                source_name = source_names[source]
            except (KeyError, TypeError):
                type_name = tracer._name_of_type(key)
                source_name = tracer._name_of_source(source)
            metadata = event.metadata
            record = (
                seq, type_name, event.timestamp, source_name,
                None if parent is None else parent[FR_SEQ], root, created, payload,
                metadata.get("partition_key") if metadata else None,
                None if handlers else seq, None,
            )  # fmt: skip
            ring.append(record)
            events.append(record)
            metadata["event_id"] = id_prefix + str(seq)
        else:
            seq, root, explicit = tracer._record_linked(
                event, source, created, caused_by, parents, bool(handlers)
            )
        if not handlers:
            if parent is not None:
                if parent[FR_DESC] < seq:
                    parent[FR_DESC] = seq
                if len(events) >= 2 * batch_size:
                    tracer._hand_off()  # a very long dispatch: don't let the buffer grow
            elif len(events) >= batch_size:
                tracer._hand_off()
            return
        if len(events) >= 2 * batch_size:
            tracer._hand_off()
        dispatch = self._custom_dispatch
        frame: list[Any] = [seq, root, seq, explicit]
        token = current.set(frame)
        # One clock read per handler boundary: a handler is received when the previous returned.
        emitted = received = clock()
        try:
            for handler, name in handlers:
                try:
                    if dispatch is None:
                        handler(event)
                    else:
                        dispatch(event, handler)
                except BaseException as exc:
                    done = clock()
                    deliveries.append((seq, name, received, done, describe_error(exc)))
                    received = done
                    if self.on_handler_error == "raise" or not isinstance(exc, Exception):
                        raise
                    logger.exception("handler %s failed on %s event; continuing", name, key)
                    continue
                done = clock()
                deliveries.append((seq, name, received, done, None))
                received = done
        finally:
            current.reset(token)
            end = frame[FR_DESC]
            finish = (seq, emitted, received, end)
            finishes.append(finish)
            finish_ring.append(finish)
            if explicit:
                tracer.raise_ends(explicit, end)
            if parent is not None:
                if parent[FR_DESC] < end:
                    parent[FR_DESC] = end
            elif len(events) >= batch_size:
                # Hand off when a root's dispatch returns: its whole tree, ends included, goes in
                # one batch, so the writer rarely has to update rows of an earlier batch.
                tracer._hand_off()
