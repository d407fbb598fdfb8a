"""A synchronous publish/subscribe bus: the untraced baseline every traced bus extends."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Literal

from eventstore.events import Event, EventType, not_an_event, type_name

logger = logging.getLogger(__name__)

Handler = Callable[[Event], object]
HandlerErrorPolicy = Literal["raise", "log"]


def handler_name(handler: Handler) -> str:
    """A stable, readable name for a handler: ``module.Class.method`` or ``module.function``."""
    module = getattr(handler, "__module__", None) or ""
    qualname = getattr(handler, "__qualname__", None) or type(handler).__qualname__
    return f"{module}.{qualname}" if module else qualname


def _is_async(handler: Handler) -> bool:
    """An ``async def`` function or method, a partial of one, or an object whose ``__call__``
    is one (a handler class): calling it only makes a coroutine."""
    if inspect.iscoroutinefunction(handler):
        return True
    return not inspect.isroutine(handler) and inspect.iscoroutinefunction(type(handler).__call__)


class EventBus:
    """Dispatches each published event to its type's handlers, in subscription order.

    Dispatch is synchronous: ``publish`` returns after every handler has run, so anything a
    handler publishes is fully dispatched first (depth first). A handler that raises stops the
    publish and the error propagates (a backtest must fail loudly); ``on_handler_error="log"``
    logs it and goes on with the next handler instead.
    """

    def __init__(self, name: str, *, on_handler_error: HandlerErrorPolicy = "raise") -> None:
        if on_handler_error not in ("raise", "log"):
            raise ValueError(f"on_handler_error must be 'raise' or 'log', not {on_handler_error!r}")
        self.name = name
        self.on_handler_error: HandlerErrorPolicy = on_handler_error
        # Tuples are replaced, never mutated, so a handler may (un)subscribe during dispatch
        # without changing the list being iterated.
        self._handlers: dict[str, tuple[Handler, ...]] = {}

    def subscribe(self, event_type: EventType | str, handler: Handler) -> None:
        """Call ``handler(event)`` for every event of ``event_type`` published from now on."""
        key = type_name(event_type)
        if not callable(handler):
            raise TypeError(f"handler for {key} must be callable, got {handler!r}")
        if _is_async(handler):
            # Called synchronously, it would return a coroutine nobody awaits: never run.
            raise TypeError(
                f"handler {handler_name(handler)} for {key} is an async function, and "
                "this bus calls handlers synchronously: subscribe it on an AsyncTracedEventBus "
                "(await bus.publish(event) awaits it and times its run), or subscribe a "
                "function that schedules it (lambda event: asyncio.create_task(handler(event)), "
                "whose delivery times only the scheduling)"
            )
        self._handlers[key] = (*self._handlers.get(key, ()), handler)

    def unsubscribe(self, event_type: EventType | str, handler: Handler) -> None:
        """Stop calling ``handler`` for ``event_type``; unknown handlers are a ``ValueError``."""
        key = type_name(event_type)
        handlers = list(self._handlers.get(key, ()))
        if handler not in handlers:
            raise ValueError(f"{handler_name(handler)} is not subscribed to {key} on {self.name}")
        handlers.remove(handler)
        self._handlers[key] = tuple(handlers)

    def handlers(self, event_type: EventType | str) -> tuple[Handler, ...]:
        """The handlers ``event_type`` is dispatched to, in call order."""
        return self._handlers.get(type_name(event_type), ())

    def publish(self, event: Event) -> None:
        """Dispatch ``event`` to every handler of its type before returning."""
        try:
            handlers = self._handlers.get(event.event_type, ())
        except AttributeError:
            raise not_an_event(event) from None
        for handler in handlers:
            self._call_handler(event, handler)

    def _call_handler(self, event: Event, handler: Handler) -> None:
        try:
            self._dispatch_event(event, handler)
        except Exception:
            if self.on_handler_error == "raise":
                raise
            logger.exception(
                "handler %s failed on %s event; continuing", handler_name(handler), event.event_type
            )

    def _dispatch_event(self, event: Event, handler: Handler) -> None:
        """Deliver one event to one handler; subclasses wrap this to observe each delivery."""
        handler(event)
