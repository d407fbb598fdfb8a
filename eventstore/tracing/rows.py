"""The in-memory record of one traced event: a plain list, because the hot path builds one per
event and a list is the cheapest mutable record CPython has.

Fields are filled in order: at publish (``SEQ``…``CREATED``, ``DESC``), when dispatch starts
(``EMITTED``, ``RECEIVED``), when it returns (``PROCESSED``, ``END``) and when its batch leaves
(``FLUSHED``). ``DESC`` grows while descendants finish; ``END`` is ``DESC`` once the event's own
dispatch has returned, and None until then.
"""

from __future__ import annotations

from typing import Any

SEQ = 0  # int: gapless position in the run, in publish order
EVENT = 1  # Event: the published object (payload encoded only when its batch is written)
SOURCE = 2  # container, str or None: who published it
CAUSE = 3  # row or None: the event whose handler was running (or the named cause)
ROOT = 4  # int: smallest seq among the event and all its ancestors
CREATED = 5  # int: perf_counter_ns when publish was called
EMITTED = 6  # int: perf_counter_ns when dispatch began (== CREATED if it has no handlers)
RECEIVED = 7  # int or None: perf_counter_ns when the first handler started (== EMITTED)
PROCESSED = 8  # int or None: perf_counter_ns when the last handler returned
END = 9  # int or None: largest seq among its descendants (itself if none)
EXTRA = 10  # list[(kind, row or seq)] or None: parents besides an implicit CAUSE
FLUSHED = 11  # bool: its batch has left; later END changes must be sent as updates
DESC = 12  # int: largest seq among itself and the descendants seen so far

Row = list[Any]


def source_name(source: object) -> str | None:
    """The recorded name of a publisher: a container's ``metadata.name``, a string, or None."""
    if source is None or isinstance(source, str):
        return source
    metadata = getattr(source, "metadata", None)
    name = getattr(metadata, "name", None)
    return name if isinstance(name, str) else type(source).__name__


def parent_seq(parent: Row | int) -> int:
    return parent if isinstance(parent, int) else int(parent[SEQ])
