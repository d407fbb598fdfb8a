"""The traced view of one event: identity, lineage, timing and payload."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson

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
    def payload(self) -> dict[str, Any]:
        """``data`` by the name ``Event.payload`` and the ``events.payload`` column give it."""
        return self.data

    @property
    def latency_ms(self) -> float:
        """Milliseconds from creation until the last handler returned (0.0 if not yet done)."""
        if self.processed_at is None:
            return 0.0
        return (self.processed_at - self.created_at).total_seconds() * 1000.0


def traced_event_from_row(
    row: Mapping[str, Any], correlation_id: str, started_at: datetime
) -> TracedEvent:
    """A ``TracedEvent`` from a row of the ``events`` columns (``payload`` as JSON text) plus
    ``received_ns``/``processed_ns`` (and, for a lineage row, ``depth``/``kind``/``via_id``);
    every ``*_ns`` is an offset from the run's ``started_at``. Shared by the tracer's ring of
    recent events and the query helpers."""
    return TracedEvent(
        event_id=row["event_id"],
        event_type=row["event_type"],
        timestamp=row["sim_time"],
        correlation_id=correlation_id,
        causation_id=row["causation_id"],
        source_container=row["source"],
        created_at=_at(started_at, row["created_ns"]) or started_at,
        emitted_at=_at(started_at, row["emitted_ns"]),
        received_at=_at(started_at, row.get("received_ns")),
        processed_at=_at(started_at, row.get("processed_ns")),
        data=_payload(row["payload"]),
        version=row.get("version") or EVENT_SCHEMA_VERSION,
        sequence_number=row["seq"],
        partition_key=row["partition_key"],
        depth=row.get("depth"),
        edge_kind=row.get("kind"),
        via_id=row.get("via_id"),
    )


def _at(started: datetime, ns: int | None) -> datetime | None:
    return None if ns is None else started + timedelta(microseconds=ns / 1000)


def _payload(text: str | None) -> dict[str, Any]:
    if text is None:
        return {}
    value = orjson.loads(text)
    return value if isinstance(value, dict) else {"value": value}
