"""The compiled recorder's Python side: ``drain``/``snapshot`` as Arrow tables, and ``load``.

The extension (``_recorder.c``) keeps typed column buffers and hands them out by ``take(keep)``
already laid out as Arrow buffers (validity bitmaps, int32 offsets, little-endian values, ``*_ns``
relative to ``origin_ns``), so a drained batch becomes Arrow arrays with
``pa.Array.from_buffers``: no Python code runs per value.

``take`` returns ``(events, edges, deliveries, end_updates, names)``; each table is
``(num_rows, columns)`` in the order of ``writer.py``'s schemas, each column
``(null_count, validity or None, data)`` or, for strings, ``(null_count, validity or None,
offsets, data)``: int64 offsets (``large_string``) when the text passes 2 GiB.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pyarrow as pa

from eventstore.tracing.batch import event_time_micros
from eventstore.tracing.recorder import Drained
from eventstore.tracing.writer import (
    DELIVERIES_SCHEMA,
    EDGES_SCHEMA,
    END_UPDATES_SCHEMA,
    EVENTS_SCHEMA,
)

try:
    from eventstore.tracing._recorder import Recorder as _Core
    from eventstore.tracing._recorder import set_time_converter

    set_time_converter(event_time_micros)  # a numpy datetime64 event time, as the twin reads it
    _BUILT = True
except ImportError:  # installed without a compiler: load() says so, the pure twin is used
    _Core = object  # type: ignore[misc,assignment]
    _BUILT = False

_STRING_LIMIT = 2**31 - 1  # bytes one pa.string() array can hold


def load() -> type[CompiledRecorder] | None:
    """The compiled recorder class, or None when the extension can't be imported or
    ``EVENTSTORE_PURE_PYTHON=1`` asks for the pure-Python twin."""
    if os.environ.get("EVENTSTORE_PURE_PYTHON", "") not in ("", "0"):
        return None
    if not _BUILT:
        return None
    return CompiledRecorder


class CompiledRecorder(_Core):
    """The recorder of ``_recorder.c`` with ``drain``/``snapshot`` returning ``Drained``."""

    __slots__ = ()

    def drain(self) -> Drained:
        """Take everything recorded so far (the buffers are emptied)."""
        return _drained(self.take(False))

    def snapshot(self) -> Drained:
        """What ``drain`` would take, left in place."""
        return _drained(self.take(True))


def _drained(taken: Any) -> Drained:
    events, edges, deliveries, end_updates, names = taken
    return Drained(
        events=_table(events, EVENTS_SCHEMA),
        edges=_table(edges, EDGES_SCHEMA),
        deliveries=_table(deliveries, DELIVERIES_SCHEMA),
        end_updates=_table(end_updates, END_UPDATES_SCHEMA),
        names=names,
    )


def _table(taken: tuple[int, tuple[tuple[Any, ...], ...]], schema: pa.Schema) -> pa.Table:
    rows, columns = taken
    return pa.Table.from_arrays(
        [_column(rows, field.type, column) for field, column in zip(schema, columns, strict=True)],
        schema=schema,
    )


def _column(rows: int, kind: pa.DataType, column: tuple[Any, ...]) -> pa.Array | pa.ChunkedArray:
    nulls, *buffers = column
    arrow = [None if b is None else pa.py_buffer(b) for b in buffers]
    if len(buffers) == 3 and len(buffers[1]) == 8 * (rows + 1):
        text = pa.Array.from_buffers(pa.large_string(), rows, arrow, nulls)
        return _split_large(text, np.frombuffer(buffers[1], np.int64))
    return pa.Array.from_buffers(kind, rows, arrow, nulls)


def _split_large(text: pa.Array, offsets: np.ndarray[Any, Any]) -> pa.ChunkedArray:
    """A ``large_string`` array past 2 GiB as chunks of ``pa.string()`` (the schema's type)."""
    chunks = []
    start = 0
    rows = len(text)
    while start < rows:
        # the last row whose text ends within the limit from this chunk's first byte
        stop = int(np.searchsorted(offsets, offsets[start] + _STRING_LIMIT, side="right")) - 1
        stop = max(stop, start + 1)
        chunks.append(text.slice(start, stop - start).cast(pa.string()))
        start = stop
    return pa.chunked_array(chunks, pa.string())
