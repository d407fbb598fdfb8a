"""Containers: named components of a system that share a bus."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from eventstore.bus import EventBus


@dataclass(frozen=True, slots=True)
class ContainerMetadata:
    """What the tracer records about the component that published an event."""

    name: str


class Container(Protocol):
    """Anything with ``metadata.name`` can be the source of a published event."""

    @property
    def metadata(self) -> ContainerMetadata: ...


class UniversalContainer:
    """A named component with its configuration and the bus it publishes on."""

    def __init__(
        self,
        name: str,
        config: dict[str, Any] | None = None,
        event_bus: EventBus | None = None,
    ) -> None:
        if not name:
            raise ValueError("a container needs a non-empty name: it is recorded as the source")
        self.metadata = ContainerMetadata(name=name)
        self.config: dict[str, Any] = dict(config or {})
        self.event_bus = event_bus

    @property
    def name(self) -> str:
        return self.metadata.name

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.metadata.name!r})"
