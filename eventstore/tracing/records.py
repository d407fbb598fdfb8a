"""The in-memory records the pure-Python recorder appends: flat tuples of atomic values.

Tuples holding only ints, strings, datetimes and None are untracked by CPython's cyclic garbage
collector after their first collection, so buffering tens of thousands of them costs the
collector nothing; that is why payloads are encoded and sources named when an event is
published, not when its batch is written, and why no record points at another object.

``EventRecord``: appended when an event is published.
A finish, ``(seq, emitted ns or None, end seq)``: appended when its dispatch returns, or when a
later event named as its descendant raises its ``end`` (then ``emitted`` is None).
``DeliveryRecord``: appended for every handler call.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

# EventRecord fields
E_SEQ: Final = 0  # int: gapless position in the run, in publish order
E_TYPE: Final = 1  # str: event type name
E_TIME: Final = 2  # datetime or None: the event's own (simulated) time
E_SOURCE: Final = 3  # str or None: name of the publishing container
E_CAUSE: Final = 4  # int or None: seq of the primary cause
E_ROOT: Final = 5  # int: smallest seq among the event and its ancestors (1 if unknown)
E_CREATED: Final = 6  # int: perf_counter_ns when publish was called
E_PAYLOAD: Final = 7  # str: payload as JSON
E_PARTITION: Final = 8  # str or None: metadata["partition_key"]
E_END: Final = 9  # int or None: seq when it has no handlers (it can have no descendants yet)
E_EXTRA: Final = 10  # tuple of (kind, parent seq) or None: every edge, when some parent was named

EventRecord = tuple[
    int,
    str,
    datetime | None,
    str | None,
    int | None,
    int,
    int,
    str,
    str | None,
    int | None,
    tuple[tuple[str, int], ...] | None,
]

# DeliveryRecord: (seq, handler name, received ns, processed ns, self ns, error or None)
DeliveryRecord = tuple[int, str, int, int, int, str | None]

# A finish: (seq, emitted ns or None, end seq)
FinishRecord = tuple[int, int | None, int]
