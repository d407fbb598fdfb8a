"""Domain events: what a system publishes, before any tracing is attached."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class EventType(StrEnum):
    """The event types of a trading system.

    Members are strings (``EventType.BAR == "BAR"``), so a system can use its own types as plain
    strings beside these; the store keeps every type by this name.
    """

    BAR = "BAR"
    SIGNAL = "SIGNAL"
    SIGNAL_REJECTED = "SIGNAL_REJECTED"
    ORDER = "ORDER"
    FILL = "FILL"
    PORTFOLIO_UPDATE = "PORTFOLIO_UPDATE"


@dataclass(slots=True)
class Event:
    """Something that happened, at ``timestamp`` in the system's own (possibly simulated) time.

    ``payload`` is what the event says and is stored as JSON; ``metadata`` is for the plumbing
    (the tracer writes ``event_id`` there) and is not stored. A traced event is encoded when its
    batch is written, so don't mutate a payload after publishing it.
    """

    event_type: EventType | str
    timestamp: datetime
    payload: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def event_id(self) -> str | None:
        """The id a tracer gave this event when it was published, or None if untraced."""
        value = self.metadata.get("event_id")
        return value if isinstance(value, str) else None
