"""Turns recorded rows into a ``TraceBatch`` of Arrow tables: runs on the writer thread, so the
per-event Python work here (encoding payloads, naming sources) stays off the publish path.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pyarrow as pa

from eventstore.tracing.encoding import PayloadEncoder
from eventstore.tracing.rows import (
    CAUSE,
    CREATED,
    EMITTED,
    EVENT,
    EXTRA,
    ROOT,
    SEQ,
    SOURCE,
    Row,
    parent_seq,
    source_name,
)
from eventstore.tracing.writer import TraceBatch

CAUSED_BY = "caused_by"

EVENTS_SCHEMA = pa.schema(
    [
        ("seq", pa.int64()),
        ("event_type", pa.string()),
        ("sim_time", pa.timestamp("us")),
        ("source", pa.string()),
        ("causation_seq", pa.int64()),
        ("root_seq", pa.int64()),
        ("end_seq", pa.int64()),
        ("created_ns", pa.int64()),
        ("emitted_ns", pa.int64()),
        ("payload", pa.string()),
        ("partition_key", pa.string()),
    ]
)
EDGES_SCHEMA = pa.schema(
    [("parent_seq", pa.int64()), ("child_seq", pa.int64()), ("kind", pa.string())]
)
DELIVERIES_SCHEMA = pa.schema(
    [
        ("seq", pa.int64()),
        ("handler", pa.string()),
        ("received_ns", pa.int64()),
        ("processed_ns", pa.int64()),
        ("error", pa.string()),
    ]
)
END_UPDATES_SCHEMA = pa.schema([("seq", pa.int64()), ("end_seq", pa.int64())])

Delivery = tuple[int, str, int, int, str | None]


class BatchBuilder:
    """Builds batches for one run; ``origin_ns`` is the run's start on the monotonic clock."""

    def __init__(self, run_id: str, tag: str, origin_ns: int) -> None:
        self.run_id = run_id
        self.tag = tag
        self.origin_ns = origin_ns
        self.encoder = PayloadEncoder()
        self._source_names: dict[int, str | None] = {}

    def build(
        self,
        rows: Sequence[Row],
        ends: Sequence[int | None],
        deliveries: Sequence[Delivery],
        end_updates: Sequence[tuple[int, int]],
    ) -> TraceBatch:
        return TraceBatch(
            run_id=self.run_id,
            tag=self.tag,
            events=self._events(rows, ends),
            edges=self._edges(rows),
            deliveries=self._deliveries(deliveries),
            end_updates=pa.Table.from_pylist(
                [{"seq": s, "end_seq": e} for s, e in end_updates], schema=END_UPDATES_SCHEMA
            ),
        )

    def _name(self, source: object) -> str | None:
        key = id(source)
        try:
            return self._source_names[key]
        except KeyError:
            name = self._source_names[key] = source_name(source)
            return name

    def _events(self, rows: Sequence[Row], ends: Sequence[int | None]) -> pa.Table:
        origin = self.origin_ns
        events = [row[EVENT] for row in rows]
        encode = self.encoder.encode
        return pa.table(
            [
                pa.array([row[SEQ] for row in rows], pa.int64()),
                pa.array([str(e.event_type) for e in events], pa.string()),
                _timestamps([e.timestamp for e in events]),
                pa.array([self._name(row[SOURCE]) for row in rows], pa.string()),
                pa.array(
                    [None if row[CAUSE] is None else row[CAUSE][SEQ] for row in rows], pa.int64()
                ),
                pa.array([row[ROOT] for row in rows], pa.int64()),
                pa.array(ends, pa.int64()),
                pa.array([row[CREATED] - origin for row in rows], pa.int64()),
                pa.array([row[EMITTED] - origin for row in rows], pa.int64()),
                pa.array([encode(e.payload) for e in events], pa.binary()).cast(pa.string()),
                pa.array([_partition_key(e.metadata) for e in events], pa.string()),
            ],
            schema=EVENTS_SCHEMA,
        )

    def _edges(self, rows: Sequence[Row]) -> pa.Table:
        parents: list[int] = []
        children: list[int] = []
        kinds: list[str] = []
        for row in rows:
            cause = row[CAUSE]
            if cause is not None:
                parents.append(cause[SEQ])
                children.append(row[SEQ])
                kinds.append(CAUSED_BY)
            extra = row[EXTRA]
            if extra:
                for kind, parent in extra:
                    parents.append(parent_seq(parent))
                    children.append(row[SEQ])
                    kinds.append(kind)
        return pa.table(
            [pa.array(parents, pa.int64()), pa.array(children, pa.int64()), pa.array(kinds)],
            schema=EDGES_SCHEMA,
        )

    def _deliveries(self, deliveries: Sequence[Delivery]) -> pa.Table:
        if not deliveries:
            return DELIVERIES_SCHEMA.empty_table()
        seqs, handlers, received, processed, errors = zip(*deliveries, strict=True)
        origin = self.origin_ns
        return pa.table(
            [
                pa.array(seqs, pa.int64()),
                pa.array(handlers, pa.string()),
                pa.array([t - origin for t in received], pa.int64()),
                pa.array([t - origin for t in processed], pa.int64()),
                pa.array(errors, pa.string()),
            ],
            schema=DELIVERIES_SCHEMA,
        )


def _partition_key(metadata: dict[str, Any]) -> str | None:
    key = metadata.get("partition_key")
    return None if key is None else str(key)


def _timestamps(values: list[Any]) -> pa.Array:
    """Event times as UTC-naive microsecond timestamps; a value that is not a datetime is
    stored as null rather than failing the batch."""
    try:
        return pa.array(values, pa.timestamp("us"))
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
        return pa.array(
            [v if isinstance(v, datetime) else None for v in values], pa.timestamp("us")
        )
