"""TracedEventBus: an EventBus that records every published event and every delivery."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from eventstore.bus import EventBus, Handler, HandlerErrorPolicy, handler_name
from eventstore.events import Event, EventType
from eventstore.tracing.rows import SEQ
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
        self._handler_names: dict[str, tuple[str, ...]] = {}

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
        self._handler_names[key] = tuple(handler_name(h) for h in self._handlers.get(key, ()))

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
        row = tracer._record(event, source, caused_by, parents)
        key = event.event_type
        handlers = self._handlers.get(key, ())
        if not handlers:
            tracer._finish(row, None)
            return
        names = self._handler_names[key]
        deliveries = tracer._deliveries
        seq = row[SEQ]
        first_received: int | None = None
        clock = time.perf_counter_ns
        token = tracer._current.set(row)
        try:
            for handler, name in zip(handlers, names, strict=True):
                received = clock()
                if first_received is None:
                    first_received = received
                try:
                    self._dispatch_event(event, handler)
                except BaseException as exc:
                    deliveries.append((seq, name, received, clock(), describe_error(exc)))
                    if self.on_handler_error == "raise" or not isinstance(exc, Exception):
                        raise
                    logger.exception("handler %s failed on %s event; continuing", name, key)
                    continue
                deliveries.append((seq, name, received, clock(), None))
        finally:
            tracer._current.reset(token)
            tracer._finish(row, first_received)
