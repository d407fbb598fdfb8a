"""eventstore: trace every event of an event-driven system into DuckDB, then ask why it
happened, where the time went, and how two runs differ."""

from eventstore.bus import EventBus
from eventstore.containers import Container, UniversalContainer
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
from eventstore.version import __version__

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
