"""The pure-Python recorder's drain: its records as Arrow tables, built off the publish path
(on the hand-off), never while events are being published."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from operator import itemgetter
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from eventstore.tracing.recorder import Tables
from eventstore.tracing.records import (
    E_CAUSE,
    E_CREATED,
    E_END,
    E_EXTRA,
    E_PARTITION,
    E_PAYLOAD,
    E_ROOT,
    E_SEQ,
    E_SOURCE,
    E_TIME,
    E_TYPE,
    DeliveryRecord,
    EventRecord,
    FinishRecord,
)
from eventstore.tracing.writer import (
    DELIVERIES_SCHEMA,
    EDGES_SCHEMA,
    END_UPDATES_SCHEMA,
    EVENTS_SCHEMA,
)

CAUSED_BY = "caused_by"


def build_drained(
    events: Sequence[EventRecord],
    finishes: Sequence[FinishRecord],
    deliveries: Sequence[DeliveryRecord],
    origin: int,
    code: Callable[[str], int],
    names: list[str],
) -> Tables:
    """The records of one drain as Arrow tables; ``code`` gives a name its per-run code
    (appending it to ``names``).

    Finishes of events in ``events`` fill their ``end_seq``/``emitted_ns``; the others belong to
    events of earlier drains and become ``end_updates``.
    """
    finished: dict[int, tuple[int | None, int]] = {}
    for seq, emitted, end in finishes:
        known = finished.get(seq)
        if known is None:
            finished[seq] = (emitted, end)
        else:
            finished[seq] = (known[0] if emitted is None else emitted, max(known[1], end))
    ends: list[int | None] = []
    emits: list[int | None] = []
    for record in events:
        done = finished.pop(record[E_SEQ], None)
        own_end = record[E_END]
        if done is None:
            ends.append(own_end)
            emits.append(None if own_end is None else record[E_CREATED] - origin)
        else:
            ends.append(done[1] if own_end is None else max(own_end, done[1]))
            if done[0] is not None:
                emits.append(done[0] - origin)
            else:  # only raised by a later link: still dispatching unless it has no handlers
                emits.append(None if own_end is None else record[E_CREATED] - origin)
    columns = _columns(events, 11)
    table = pa.table(
        [
            pa.array(columns[E_SEQ], pa.int64()),
            _coded(columns[E_TYPE], code),
            _timestamps(columns[E_TIME]),
            _coded(columns[E_SOURCE], code),
            pa.array(columns[E_CAUSE], pa.int64()),
            pa.array(columns[E_ROOT], pa.int64()),
            pa.array(ends, pa.int64()),
            _since(columns[E_CREATED], origin),
            pa.array(emits, pa.int64()),
            _strings(columns[E_PAYLOAD]),
            _strings(columns[E_PARTITION]),
        ],
        schema=EVENTS_SCHEMA,
    )
    updates = [
        (seq, end, None if emitted is None else emitted - origin)
        for seq, (emitted, end) in finished.items()
    ]
    return (
        table,
        _edges(events, code),
        _deliveries(deliveries, origin, code),
        pa.table(
            [pa.array(c, pa.int64()) for c in _columns(updates, 3)]
            if updates
            else [pa.array([], pa.int64())] * 3,
            schema=END_UPDATES_SCHEMA,
        ),
        tuple(names),
    )


def _coded(names: Sequence[str | None], code: Callable[[str], int]) -> pa.Array:
    """Names as their per-run codes, vectorized: only the few distinct names reach Python."""
    encoded = _strings(names).dictionary_encode()
    codes = pa.array([code(name) for name in encoded.dictionary.to_pylist()], pa.int32())
    return codes.take(encoded.indices)


def _edges(events: Sequence[EventRecord], code: Callable[[str], int]) -> pa.Table:
    parents: list[int] = []
    children: list[int] = []
    kinds: list[str] = []
    for record in events:
        extra = record[E_EXTRA]
        if extra is None:
            cause = record[E_CAUSE]
            if cause is not None:
                parents.append(cause)
                children.append(record[E_SEQ])
                kinds.append(CAUSED_BY)
        else:  # named parents: the primary cause is listed among them
            for kind, parent in extra:
                parents.append(parent)
                children.append(record[E_SEQ])
                kinds.append(kind)
    return pa.table(
        [pa.array(parents, pa.int64()), pa.array(children, pa.int64()), _coded(kinds, code)],
        schema=EDGES_SCHEMA,
    )


def _deliveries(
    deliveries: Sequence[DeliveryRecord], origin: int, code: Callable[[str], int]
) -> pa.Table:
    if not deliveries:
        return DELIVERIES_SCHEMA.empty_table()
    seqs, handlers, received, processed, self_ns, errors = _columns(deliveries, 6)
    return pa.table(
        [
            pa.array(seqs, pa.int64()),
            _coded(handlers, code),
            _since(received, origin),
            _since(processed, origin),
            pa.array(self_ns, pa.int64()),
            _strings(errors),
        ],
        schema=DELIVERIES_SCHEMA,
    )


def _columns(records: Sequence[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Records as columns. (``zip(*records)`` is several times slower on 10 000 records.)"""
    return [list(map(itemgetter(i), records)) for i in range(width)]


def _since(clock_ns: Sequence[int], origin: int) -> pa.Array:
    """Monotonic clock readings as nanoseconds since the run started (vectorized)."""
    return pc.subtract(pa.array(clock_ns, pa.int64()), pa.scalar(origin, pa.int64()))


def _timestamps(values: Sequence[Any]) -> pa.Array:
    """Event times as microsecond timestamps (aware datetimes in UTC, a date at midnight); a
    value of another kind is stored as null rather than failing the batch."""
    # Arrow would read an int or float as microseconds since 1970: check the types first.
    if all(t is datetime or t is _NoneType for t in set(map(type, values))):
        try:
            return pa.array(values, pa.timestamp("us"))
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
            pass
    return pa.array([event_time_micros(v) for v in values], pa.timestamp("us"))


def event_time_micros(value: Any) -> int | None:
    """Microseconds since 1970 (UTC for an aware datetime, midnight for a date, a numpy
    ``datetime64`` as the UTC time it counts), as ``sim_time_of`` in ``_recorder.c`` computes
    them (it calls this for a ``datetime64``): an int, so a time the UTC offset moves out of
    ``datetime``'s range is kept, and a tzinfo whose ``utcoffset`` raises stores null rather
    than failing the batch (and the run). Anything else (and NaT) is null."""
    if isinstance(value, datetime):
        naive = value.replace(tzinfo=None)
        micros = (naive - _EPOCH) // _MICROSECOND
        if value.tzinfo is not None:
            try:
                offset = value.utcoffset()
            except Exception:
                return None
            if offset is not None:
                micros -= offset // _MICROSECOND
        return micros
    if isinstance(value, date):
        return (value - _EPOCH.date()).days * 86_400_000_000
    if isinstance(value, np.datetime64) and not np.isnat(value):
        # a numpy loop's time (``times[i]``), whatever its unit, truncated to microseconds;
        # numpy converts units without an overflow check: the years a datetime holds only
        days = int(value.astype("datetime64[D]").astype(np.int64))
        if _DATETIME_DAYS[0] <= days < _DATETIME_DAYS[1]:
            return int(value.astype("datetime64[us]").astype(np.int64))
    return None


_EPOCH = datetime(1970, 1, 1)
_DATETIME_DAYS = ((date.min - _EPOCH.date()).days, (date.max - _EPOCH.date()).days + 1)
_MICROSECOND = timedelta(microseconds=1)


_NoneType = type(None)


def utf8_safe(text: str) -> str:
    """``text``, with what UTF-8 cannot hold (a lone surrogate) backslash-escaped."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _strings(values: Sequence[str | None]) -> pa.Array:
    """A string column; text UTF-8 cannot hold (a lone surrogate, as in an exception naming an
    undecodable file name) is stored backslash-escaped rather than failing the batch."""
    try:
        return pa.array(values, pa.string())
    except UnicodeEncodeError:
        return pa.array(
            [
                None if v is None else v.encode("utf-8", "backslashreplace").decode("utf-8")
                for v in values
            ],
            pa.string(),
        )
