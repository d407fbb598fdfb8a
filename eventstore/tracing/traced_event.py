"""The traced view of one event: identity, lineage, timing and payload."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

EVENT_SCHEMA_VERSION = "1.0"


@dataclass(slots=True)
class TracedEvent:
    """One event as the tracer saw it.

    ``timestamp`` is the event's own (simulated) time. ``created_at`` (recorded by the tracer),
    ``emitted_at`` (handed to handlers), ``received_at`` (first handler started) and
    ``processed_at`` (last handler returned) are wall-clock times derived from a monotonic clock
    anchored at the run's start, so differences between them are exact.
    """

    event_id: str
    event_type: str
    timestamp: datetime | None
    correlation_id: str
    causation_id: str | None
    source_container: str | None
    created_at: datetime
    emitted_at: datetime | None = None
    received_at: datetime | None = None
    processed_at: datetime | None = None
    data: dict[str, Any] = field(default_factory=dict)
    version: str = EVENT_SCHEMA_VERSION
    sequence_number: int = 0
    partition_key: str | None = None
    depth: int | None = None
    """In a ``why``/``effects`` result: edges from the event asked about (0: that event)."""
    edge_kind: str | None = None
    """In a ``why``/``effects`` result: the edge taken to reach it (``caused_by``,
    ``priced_by``, …), from ``via_id``; None for the event asked about."""
    via_id: str | None = None
    """In a ``why``/``effects`` result: the event it was reached from."""

    @property
    def latency_ms(self) -> float:
        """Milliseconds from creation until the last handler returned (0.0 if not yet done)."""
        if self.processed_at is None:
            return 0.0
        return (self.processed_at - self.created_at).total_seconds() * 1000.0
