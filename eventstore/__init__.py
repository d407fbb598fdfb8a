"""eventstore: trace every event of an event-driven system into DuckDB, then ask why it
happened, where the time went, and how two runs differ."""

__version__ = "0.1.0"

from eventstore.bus import EventBus  # noqa: E402
from eventstore.containers import Container, UniversalContainer  # noqa: E402
from eventstore.errors import (  # noqa: E402
    ConfigError,
    DataError,
    EventStoreError,
    QueryError,
    SchemaVersionError,
    StoreError,
    StoreLockedError,
)
from eventstore.events import Event, EventType  # noqa: E402
from eventstore.store import Store, open_store  # noqa: E402
from eventstore.tracing import (  # noqa: E402
    EventTracer,
    TracedEvent,
    TracedEventBus,
    TraceWriteError,
)

__all__ = [
    "ConfigError",
    "Container",
    "DataError",
    "Event",
    "EventBus",
    "EventStoreError",
    "EventTracer",
    "EventType",
    "QueryError",
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
