"""Tail-based sampling, as a user configures it: which events must always be stored, and what
share of the others.

Sampling is off unless an ``EventTracer`` is given a ``Sampling``. It is *tail-based*: an event
is decided only after everything it caused is known (``tail_sampler.py``), so a run keeps every
event on a causal path to the types a user cares about (every FILL's full chain, say) and only
``fraction`` of the rest (BARs that caused nothing). What was left out is counted per type on
the run (``runs.sampling``), so counts stay exact and outputs can say they are sampled.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from eventstore.errors import ConfigError

DEFAULT_KEEP_TYPES = ("ORDER", "FILL")
"""What a trading run is about: its orders and fills, and so everything that led to them."""

DEFAULT_HOLD_EVENTS = 10_000
DEFAULT_MAX_HELD_EVENTS = 200_000


@dataclass(frozen=True, slots=True)
class Sampling:
    """Which events a sampled run stores.

    An event is stored when its type is in ``keep_types``, when one of its deliveries failed,
    when it is an ancestor (through any lineage edge) of a stored event, or else with
    probability ``fraction``, drawn from a hash of (``seed``, seq): the same run sampled twice
    stores the same events. ``fraction=1.0`` stores everything; ``0.0`` only the paths to kept
    types and failures.

    ``hold_events``: an event is decided once its dispatch ended and this many later events
    were published, so a later event that names it as a parent (e.g. ``caused_by=order``)
    within that window still keeps it. ``max_held_events`` bounds what waits undecided: past
    it, the oldest undecided events are stored (never sampled out), so memory stays flat.
    """

    fraction: float
    keep_types: tuple[str, ...] = DEFAULT_KEEP_TYPES
    seed: int = 0
    hold_events: int = DEFAULT_HOLD_EVENTS
    max_held_events: int = DEFAULT_MAX_HELD_EVENTS

    def __post_init__(self) -> None:
        fraction = self.fraction
        if (
            isinstance(fraction, bool)
            or not isinstance(fraction, int | float)
            or math.isnan(fraction)
            or not 0.0 <= fraction <= 1.0
        ):
            raise ConfigError(
                f"sampling fraction must be a number from 0 to 1 (the share of events outside "
                f"the kept paths to store, e.g. 0.1), got {fraction!r}"
            )
        object.__setattr__(self, "fraction", float(fraction))
        object.__setattr__(self, "keep_types", _type_names(self.keep_types))
        for name in ("seed", "hold_events", "max_held_events"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"sampling {name} must be a whole number >= 0, got {value!r}")
        if self.max_held_events < 1:
            raise ConfigError("sampling max_held_events must be at least 1")

    def record(self) -> dict[str, Any]:
        """The configuration as stored in ``runs.sampling`` (counts are added at the end)."""
        return {
            "fraction": self.fraction,
            "keep_types": list(self.keep_types),
            "seed": self.seed,
            "hold_events": self.hold_events,
        }


def _type_names(types: Iterable[str] | str) -> tuple[str, ...]:
    if isinstance(types, str):  # a lone "FILL" is one type, not four letters
        types = (types,)
    names: list[str] = []
    for kind in types:
        name = kind.value if isinstance(kind, Enum) else kind
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(
                f"sampling keep_types must be event type names such as 'FILL', got {kind!r}"
            )
        if name not in names:
            names.append(name)
    return tuple(names)
