"""In-memory views of a run's most recent events: ``tracer.traced_events`` and
``tracer.event_index``.

The ring keeps the last drained batches (Arrow tables, at least ``size`` events) and reads the
recorder's buffer on demand, so it costs the publish path nothing and its index is trimmed with
it (the original plan's ``event_index`` grew forever). ``TracedEvent`` objects are built only
when asked for.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, overload

import pyarrow as pa
import pyarrow.compute as pc

from eventstore.tracing.ids import event_id, seq_of
from eventstore.tracing.recorder import Drained, Recorder
from eventstore.tracing.traced_event import TracedEvent, traced_event_from_row


class RecentEvents:
    """The last ``size`` events of a run and their deliveries."""

    def __init__(
        self, size: int, recorder: Recorder, correlation_id: str, tag: str, started_at: datetime
    ) -> None:
        self.size = size
        self._recorder = recorder
        self._correlation_id = correlation_id
        self._tag = tag
        self._started_at = started_at
        self._batches: deque[Drained] = deque()
        self._lock = threading.Lock()

    def add(self, drained: Drained) -> None:
        """Keep a drained batch, dropping the oldest ones no longer needed."""
        if self.size == 0 or drained.empty:
            return
        with self._lock:
            self._batches.append(drained)
            while len(self._batches) > 1 and (
                sum(b.num_events for b in self._batches) - self._batches[0].num_events >= self.size
            ):
                self._batches.popleft()

    def lookup(self, seq: int) -> tuple[int | None, int] | None:
        """(causation_seq, root_seq) of a kept event, for the lineage slow path. A drain's rows
        are consecutive seqs, so the row is found by subtraction: no index for every event to
        pay for."""
        with self._lock:
            batches = list(self._batches)
        for drained in reversed(batches):
            seqs = drained.events.column("seq")
            if not len(seqs):
                continue
            row = seq - seqs[0].as_py()
            if 0 <= row < len(seqs) and seqs[row].as_py() == seq:
                events = drained.events
                return events["causation_seq"][row].as_py(), events["root_seq"][row].as_py()
        return None

    def rows(self) -> list[dict[str, Any]]:
        """The last ``size`` events as rows of the ``events`` columns, oldest first."""
        if self.size == 0:
            return []
        with self._lock:
            kept = list(self._batches)
        # Kept batches may still be unbuilt (deferred): building one codes its names, so build
        # them all before the snapshot, whose names then cover every code in any of them.
        events = [b.events for b in kept]
        snapshot = self._recorder.snapshot()
        batches = [*kept, snapshot]
        names = snapshot.names
        events = pa.concat_tables([*events, snapshot.events])
        if events.num_rows > self.size:
            events = events.slice(events.num_rows - self.size)
        deliveries = pa.concat_tables([b.deliveries for b in batches])
        updates = pa.concat_tables([b.end_updates for b in batches])
        timing: dict[int, tuple[int, int]] = {}
        if deliveries.num_rows:
            grouped = deliveries.group_by("seq").aggregate(
                [("received_ns", "min"), ("processed_ns", "max")]
            )
            timing = dict(
                zip(
                    grouped.column("seq").to_pylist(),
                    zip(
                        grouped.column("received_ns_min").to_pylist(),
                        grouped.column("processed_ns_max").to_pylist(),
                        strict=True,
                    ),
                    strict=True,
                )
            )
        late_emits = {
            seq: emitted
            for seq, emitted in zip(
                updates.column("seq").to_pylist(),
                updates.column("emitted_ns").to_pylist(),
                strict=True,
            )
            if emitted is not None
        }
        events = events.sort_by("seq") if not _sorted(events) else events
        prefix = f"{self._tag}-"
        rows: list[dict[str, Any]] = events.to_pylist()
        for row in rows:
            seq = row["seq"]
            cause = row["causation_seq"]
            source = row["source_code"]
            received, processed = timing.get(seq, (None, None))
            row["event_id"] = prefix + str(seq)
            row["event_type"] = names[row["type_code"]]
            row["source"] = None if source is None else names[source]
            row["causation_id"] = None if cause is None else prefix + str(cause)
            if row["emitted_ns"] is None:
                row["emitted_ns"] = late_emits.get(seq)
            row["received_ns"] = received
            row["processed_ns"] = processed
        return rows

    def traced(self, row: Mapping[str, Any]) -> TracedEvent:
        return traced_event_from_row(row, self._correlation_id, self._started_at)


def _sorted(events: pa.Table) -> bool:
    seqs = events.column("seq")
    if len(seqs) < 2:
        return True
    return bool(pc.all(pc.greater(seqs.slice(1), seqs.slice(0, len(seqs) - 1))).as_py())


class RecentEventsView(Sequence[TracedEvent]):
    """``tracer.traced_events``: a read-only sequence over the ring, oldest first."""

    def __init__(self, recent: RecentEvents) -> None:
        self._recent = recent

    def __len__(self) -> int:
        return len(self._recent.rows())

    @overload
    def __getitem__(self, index: int) -> TracedEvent: ...
    @overload
    def __getitem__(self, index: slice) -> list[TracedEvent]: ...
    def __getitem__(self, index: int | slice) -> TracedEvent | list[TracedEvent]:
        rows = self._recent.rows()
        if isinstance(index, slice):
            return [self._recent.traced(r) for r in rows[index]]
        return self._recent.traced(rows[index])

    def __iter__(self) -> Iterator[TracedEvent]:
        return (self._recent.traced(r) for r in self._recent.rows())


class EventIndex(Mapping[str, TracedEvent]):
    """``tracer.event_index``: ``event_id → TracedEvent`` over the ring, trimmed with it."""

    def __init__(self, recent: RecentEvents, tag: str) -> None:
        self._recent = recent
        self._tag = tag

    def __getitem__(self, key: str) -> TracedEvent:
        seq = seq_of(key, self._tag) if isinstance(key, str) else None
        if seq is not None:
            for row in self._recent.rows():
                if row["seq"] == seq:
                    return self._recent.traced(row)
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return (event_id(self._tag, r["seq"]) for r in self._recent.rows())

    def __len__(self) -> int:
        return len(self._recent.rows())
