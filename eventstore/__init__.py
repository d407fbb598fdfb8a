"""eventstore: trace every event of an event-driven system into DuckDB, then ask why it
happened, where the time went, and how two runs differ.

The public names below load on first use (PEP 562 ``__getattr__``): the store and tracer
import DuckDB, SQLAlchemy and pyarrow, about half a second that ``import eventstore`` and
``eventstore --help`` need not pay. ``from eventstore import X`` works as ever, and type
checkers and IDEs see the imports under ``TYPE_CHECKING``. The errors and the version are
cheap and load at once."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from eventstore.errors import (
    ConfigError,
    DataError,
    EventStoreError,
    QueryError,
    RunClosedError,
    RunEndNotRecordedError,
    SchemaVersionError,
    StoreError,
    StoreLockedError,
)
from eventstore.version import __version__

if TYPE_CHECKING:
    from eventstore.bus import EventBus
    from eventstore.containers import Container, UniversalContainer
    from eventstore.events import Event, EventType
    from eventstore.store import Store, open_store
    from eventstore.tracing import (
        AsyncTracedEventBus,
        EventTracer,
        Sampling,
        TracedEvent,
        TracedEventBus,
        TraceWriteError,
    )

_LAZY = {
    "EventBus": "eventstore.bus",
    "Container": "eventstore.containers",
    "UniversalContainer": "eventstore.containers",
    "Event": "eventstore.events",
    "EventType": "eventstore.events",
    "Store": "eventstore.store",
    "open_store": "eventstore.store",
    "AsyncTracedEventBus": "eventstore.tracing",
    "EventTracer": "eventstore.tracing",
    "Sampling": "eventstore.tracing",
    "TracedEvent": "eventstore.tracing",
    "TracedEventBus": "eventstore.tracing",
    "TraceWriteError": "eventstore.tracing",
}
"""Each lazily loaded public name, and the module it comes from."""


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "AsyncTracedEventBus",
    "ConfigError",
    "Container",
    "DataError",
    "Event",
    "EventBus",
    "EventStoreError",
    "EventTracer",
    "EventType",
    "QueryError",
    "RunClosedError",
    "RunEndNotRecordedError",
    "Sampling",
    "SchemaVersionError",
    "Store",
    "StoreError",
    "StoreLockedError",
    "TraceWriteError",
    "TracedEvent",
    "TracedEventBus",
    "UniversalContainer",
    "__version__",
    "open_store",
]
