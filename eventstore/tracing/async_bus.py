"""AsyncTracedEventBus: a bus for asyncio programs whose handlers are coroutines.

``TracedEventBus`` calls handlers synchronously inside ``publish``: an ``async def`` handler
would return a coroutine nobody awaits, so it refuses one. The usual way round it, subscribing
``lambda event: asyncio.create_task(handler(event))``, records a delivery that times only the
``create_task`` call (microseconds), under the lambda's name, however long the coroutine then
runs: the run's latencies and handler times would say nothing of the handlers' work.

Here ``await bus.publish(event)`` awaits each handler in subscription order (a plain function
is called, a coroutine awaited) and records each delivery from its start to the end of its
coroutine, under the coroutine function's name, through the same recorder API any bus uses
(``begin``/``delivered``/``end``). A delivery's inclusive time is its wall time: it includes
what the handler awaited, and the time other tasks ran meanwhile; its self time leaves out the
deliveries of events published meanwhile in its context (by it or the tasks it started; at
least 0). Causation is as on the synchronous
bus: what a handler publishes, or a task it starts, is caused by the event it handles.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable

from eventstore.bus import Handler
from eventstore.events import Event, EventType, not_an_event, type_name
from eventstore.tracing.recorder import describe_error
from eventstore.tracing.traced_bus import TracedEventBus


class AsyncTracedEventBus(TracedEventBus):
    """A ``TracedEventBus`` whose ``publish`` is a coroutine that awaits async handlers.

    Handlers may be ``async def`` functions or plain ones. ``await bus.publish(...)`` returns
    once every handler of the event has returned (depth first, as on the synchronous bus); a
    handler that raises stops the publish and the error propagates, unless the bus was made
    with ``on_handler_error="log"``. Without a tracer it dispatches the same way, unrecorded.
    """

    def subscribe(self, event_type: EventType | str, handler: Handler) -> None:
        """Call ``handler(event)`` (and await it if it is a coroutine) for every event of
        ``event_type`` published from now on."""
        key = type_name(event_type)
        if not callable(handler):
            raise TypeError(f"handler for {key} must be callable, got {handler!r}")
        self._handlers[key] = (*self._handlers.get(key, ()), handler)
        self._refresh_names(key)

    async def publish(  # type: ignore[override]
        self,
        event: Event,
        source: object = None,
        *,
        caused_by: Event | str | None = None,
        parents: Iterable[tuple[str, Event | str]] = (),
    ) -> None:
        """Record ``event`` (published by ``source``), then await each of its handlers."""
        try:
            handlers = self._named_handlers.get(event.event_type, ())
        except AttributeError:
            raise not_an_event(event) from None
        recorder = self._recorder
        if recorder is None:
            for handler, name in handlers:
                try:
                    await _run(handler, event)
                except Exception as exc:
                    if self.on_handler_error == "raise":
                        raise
                    self._log_handler_error(exc, name, event)
            return
        frame = recorder.begin(event, source, caused_by, parents)
        try:
            for handler, name in handlers:
                received = recorder.clock()
                try:
                    await _run(handler, event)
                except BaseException as exc:  # a cancelled task's delivery is recorded too
                    recorder.delivered(frame, name, received, recorder.clock(), describe_error(exc))
                    if not isinstance(exc, Exception) or self.on_handler_error == "raise":
                        raise
                    self._log_handler_error(exc, name, event)
                    continue
                recorder.delivered(frame, name, received, recorder.clock(), None)
        finally:
            recorder.end(frame)


async def _run(handler: Handler, event: Event) -> None:
    """Call ``handler``; await what it returns if that is awaitable (a coroutine)."""
    result = handler(event)
    if inspect.isawaitable(result):
        await result
