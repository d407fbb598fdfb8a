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
    (the tracer writes ``event_id`` there) and is not stored. A traced event's payload is
    encoded when it is published: a change made to it afterwards is not stored.
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


def type_name(event_type: object) -> str:
    """The name an event type is subscribed, dispatched and stored under: the text of the string
    it is. For a ``StrEnum`` member that is its value; for a member of a ``(str, Enum)`` class
    too, although its ``str()`` is ``Class.MEMBER`` (so ``Kind.NEW`` and ``"NEW"`` are one type).
    Anything else is a ``TypeError``, as publishing it would be."""
    if not isinstance(event_type, str):
        raise TypeError(
            f"event_type must be a string (an EventType or a name of your own), got {event_type!r}"
        )
    return str.__str__(event_type)


def not_an_event(obj: object) -> TypeError:
    """The error for publishing what is no event (same text as ``not_an_event`` in
    ``tracing/_recorder.c``): a bus reads an event's attributes, so any object that has them
    will do."""
    return TypeError(
        "publish takes an Event (or an object with event_type, timestamp, payload and "
        f"metadata), got {type(obj).__name__}"
    )


def metadata_not_writable(metadata: object) -> TypeError:
    """The error for an event whose ``metadata`` can't take the ``event_id`` the tracer writes
    there (same text as ``metadata_not_writable`` in ``tracing/_recorder.c``). It is raised
    before the event is recorded, so a refused publish leaves nothing behind."""
    return TypeError(
        "event.metadata must be a dict (the tracer writes the event's id there), got "
        f"{type(metadata).__name__}: leave it out (Event makes one) or pass {{}}"
    )
