"""TracedEventBus: an EventBus that records every published event and every delivery."""

from __future__ import annotations

import functools
import logging
import weakref
from collections.abc import Iterable
from types import ModuleType

from eventstore.bus import EventBus, Handler, HandlerErrorPolicy, handler_name
from eventstore.events import Event, EventType, not_an_event, type_name
from eventstore.tracing.recorder import ErrorHook, NamedHandlers, Recorder
from eventstore.tracing.tracer import EventTracer

logger = logging.getLogger(__name__)


def delivery_name(handler: Handler) -> str:
    """The name a handler's deliveries are recorded under. A method of a container is named by
    the container instance (``ma_cross.on_bar``), so three strategies of one class are three
    handlers; a ``functools.partial`` by the function it wraps; anything else by
    ``module.qualname`` (``TracedEventBus`` numbers further instances of one class, and
    further functions of one name)."""
    if isinstance(handler, functools.partial):
        return delivery_name(handler.func)
    owner = getattr(handler, "__self__", None)
    name = getattr(getattr(owner, "metadata", None), "name", None)
    method = getattr(handler, "__name__", None)
    if isinstance(name, str) and isinstance(method, str):
        return f"{name}.{method}"
    return handler_name(handler)


def _instance_owner(handler: Handler) -> object | None:
    """The object a plain bound method belongs to: None for functions, methods of a class or
    module (classmethods, builtins) and methods of a named container."""
    owner = getattr(handler, "__self__", None)
    if owner is None or isinstance(owner, type | ModuleType):
        return None
    return (
        None if isinstance(getattr(getattr(owner, "metadata", None), "name", None), str) else owner
    )


# Per run, the numbering ``_instance_name`` gives: the buses tracing into one tracer share it,
# so the methods of two objects (or two lambdas) subscribed on different buses are two
# handlers in the run, and each run numbers afresh.
_RUN_INSTANCES: weakref.WeakKeyDictionary[EventTracer, dict[str, list[int]]] = (
    weakref.WeakKeyDictionary()
)


def _number(instances: dict[str, list[int]], name: str, owner: int) -> int:
    """The number of ``owner`` among the owners of handlers called ``name`` (1 for the first),
    numbering it next if it is new."""
    owners = instances.setdefault(name, [])
    if owner not in owners:
        owners.append(owner)
    return owners.index(owner) + 1


class TracedEventBus(EventBus):
    """Records lineage while it dispatches, through its tracer's recorder.

    The event whose handlers are running is the cause of anything published meanwhile (per
    thread and per asyncio task). ``caused_by`` names a different primary cause (e.g. a FILL
    published on a later BAR is caused by its ORDER); ``parents`` adds more edges with a kind,
    e.g. ``parents=[("priced_by", bar)]``. Each handler call is a delivery with its own
    received/processed times, self time and error. Without a tracer it is a plain ``EventBus``.
    """

    def __init__(self, name: str, *, on_handler_error: HandlerErrorPolicy = "raise") -> None:
        super().__init__(name, on_handler_error=on_handler_error)
        self.tracer: EventTracer | None = None
        self._recorder: Recorder | None = None
        self._named_handlers: dict[str, NamedHandlers] = {}
        # name -> ids of the instances whose methods got it, in order of first subscription:
        # the first keeps the name, the n-th is recorded as ``module.Class#n.method``. This
        # bus's own order; with a tracer, names are numbered in the run's (``_RUN_INSTANCES``).
        self._own_instances: dict[str, list[int]] = {}
        self._instances = self._own_instances
        # Call handlers directly unless a subclass wraps each delivery.
        overridden = type(self)._dispatch_event is not EventBus._dispatch_event
        self._custom_dispatch = self._dispatch_event if overridden else None
        self._on_error: ErrorHook | None = (
            None if on_handler_error == "raise" else self._log_handler_error
        )

    def set_tracer(self, tracer: EventTracer | None) -> None:
        """Record every event published from now on with ``tracer`` (None stops tracing).

        With the compiled recorder, ``publish`` becomes the recorder's ``publisher``: the same
        method as one C callable, so no publish (named causes included) runs a Python frame of
        the bus. A subclass that overrides ``publish`` keeps its own (and this class's method as
        its super).
        """
        if tracer is not None and not isinstance(tracer, EventTracer):
            raise TypeError(
                f"set_tracer takes an EventTracer (or None to stop tracing), got "
                f"{type(tracer).__name__}"
            )
        self.tracer = tracer
        self._recorder = None if tracer is None else tracer.recorder
        self._instances = self._own_instances
        if tracer is not None:
            self._instances = _RUN_INSTANCES.setdefault(tracer, {})
            for name, owners in self._own_instances.items():
                for owner in owners:
                    _number(self._instances, name, owner)
        for key in self._handlers:
            self._refresh_names(key)
        self.__dict__.pop("publish", None)
        make_publisher = getattr(self._recorder, "publisher", None)
        if make_publisher is not None and type(self).publish is TracedEventBus.publish:
            self.publish = make_publisher(  # type: ignore[method-assign]
                self._named_handlers, self._custom_dispatch, self._on_error
            )
        if tracer is not None:
            logger.info("bus %r tracing with correlation_id %s", self.name, tracer.correlation_id)

    def subscribe(self, event_type: EventType | str, handler: Handler) -> None:
        super().subscribe(event_type, handler)
        self._refresh_names(type_name(event_type))

    def unsubscribe(self, event_type: EventType | str, handler: Handler) -> None:
        super().unsubscribe(event_type, handler)
        self._refresh_names(type_name(event_type))

    def _refresh_names(self, key: str) -> None:
        handlers = self._handlers.get(key, ())
        self._named_handlers[key] = tuple((h, self._instance_name(h)) for h in handlers)

    def _instance_name(self, handler: Handler) -> str:
        """``delivery_name``, told apart per instance for methods of objects of one class
        (``app.Worker.on_job``, ``app.Worker#2.on_job``) and for distinct functions of one name
        (lambdas, closures made by one factory, partials of one function, callable objects:
        ``app.<lambda>``, ``app.<lambda>#2``), so each is a handler of its own. A subscribed
        handler keeps its object alive, so its id is not reused while it is subscribed."""
        name = delivery_name(handler)
        owner = _instance_owner(handler)
        if owner is None:
            if getattr(handler, "__self__", None) is not None:
                return name  # a method of a class, a module or a named container
            owner = handler
        number = _number(self._own_instances, name, id(owner))
        if self._instances is not self._own_instances:
            number = _number(self._instances, name, id(owner))
        if number == 1:
            return name
        if owner is handler:
            return f"{name}#{number}"
        qualified, _, method = name.rpartition(".")
        return f"{qualified}#{number}.{method}"

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
        recorder = self._recorder
        if recorder is None:
            EventBus.publish(self, event)
            return
        try:
            handlers = self._named_handlers.get(event.event_type, ())
        except AttributeError:
            raise not_an_event(event) from None
        recorder.publish(
            event,
            source,
            handlers,
            self._custom_dispatch,
            self._on_error,
            caused_by,
            parents,
        )

    @staticmethod
    def _log_handler_error(exc: Exception, name: str, event: Event) -> None:
        logger.error(
            "handler %s failed on %s event; continuing", name, event.event_type, exc_info=exc
        )
