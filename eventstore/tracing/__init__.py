"""Tracing: identity, lineage and timing for every published event."""

from eventstore.tracing.async_bus import AsyncTracedEventBus
from eventstore.tracing.sampling import Sampling
from eventstore.tracing.traced_bus import TracedEventBus
from eventstore.tracing.traced_event import TracedEvent
from eventstore.tracing.tracer import EventTracer, TraceWriteError
from eventstore.tracing.writer import BatchWriter, InMemoryWriter, RunInfo, RunStats, TraceBatch

__all__ = [
    "AsyncTracedEventBus",
    "BatchWriter",
    "EventTracer",
    "InMemoryWriter",
    "RunInfo",
    "RunStats",
    "Sampling",
    "TraceBatch",
    "TraceWriteError",
    "TracedEvent",
    "TracedEventBus",
]
