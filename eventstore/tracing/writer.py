"""What the tracer hands to storage: run descriptions, batches, and the writer interface.

The tracer records; a ``BatchWriter`` persists. Each backend (DuckDB, an in-memory list for
tests) is one small class implementing this protocol, so the tracer never imports storage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

import pyarrow as pa

RunStatus = Literal["running", "completed", "failed", "interrupted", "crashed"]


@dataclass(frozen=True, slots=True)
class RunInfo:
    """The ``runs`` row written when a run starts."""

    run_id: str
    tag: str
    name: str | None
    started_at: datetime
    config: dict[str, Any]
    library_version: str
    host: str
    pid: int
    sampling: dict[str, Any] | None = None  # the Sampling configuration; None: not sampled


@dataclass(frozen=True, slots=True)
class RunStats:
    """Counters written on the ``runs`` row when the run ends."""

    event_count: int
    dropped_count: int = 0
    unencodable_count: int = 0
    lineage_exact: bool = True
    sampling: dict[str, Any] | None = None  # configuration and per-type sampled-out counts


EVENTS_SCHEMA = pa.schema(
    [
        ("seq", pa.int64()),  # gapless position in the run, 1, 2, …, in publish order
        ("type_code", pa.int32()),  # index into TraceBatch.names: the event type
        ("sim_time", pa.timestamp("us")),  # the event's own time (UTC, naive); null if none
        ("source_code", pa.int32()),  # index into names: the publishing container; null if none
        ("causation_seq", pa.int64()),  # seq of the primary cause; null for a root
        ("root_seq", pa.int64()),  # smallest seq among the event and its ancestors
        ("end_seq", pa.int64()),  # largest seq among it and its descendants; null if unknown yet
        ("created_ns", pa.int64()),  # publish called, ns since the run's origin
        ("emitted_ns", pa.int64()),  # first handler received it (created_ns if no handler)
        ("payload", pa.string()),  # JSON text
        ("partition_key", pa.string()),
    ]
)
EDGES_SCHEMA = pa.schema(
    [
        ("parent_seq", pa.int64()),
        ("child_seq", pa.int64()),
        ("kind_code", pa.int32()),  # index into names: "caused_by", "priced_by", …
    ]
)
DELIVERIES_SCHEMA = pa.schema(
    [
        ("seq", pa.int64()),  # the delivered event
        ("handler_code", pa.int32()),  # index into names: e.g. "ma_cross.on_bar"
        ("received_ns", pa.int64()),  # ns since the run's origin
        ("processed_ns", pa.int64()),
        ("self_ns", pa.int64()),  # processed - received, minus deliveries nested inside it
        ("error", pa.string()),  # "ExcType: message", or null
    ]
)
END_UPDATES_SCHEMA = pa.schema(
    [("seq", pa.int64()), ("end_seq", pa.int64()), ("emitted_ns", pa.int64())]
)


@dataclass(frozen=True, slots=True)
class TraceBatch:
    """One unit of persistence: stored whole or not at all.

    Tables follow ``EVENTS_SCHEMA``, ``EDGES_SCHEMA``, ``DELIVERIES_SCHEMA`` and
    ``END_UPDATES_SCHEMA``. Rows carry sequence numbers, not ids (writers derive ids as
    ``<tag>-<seq>``), and small-integer codes for names: ``names[code]`` is the event type,
    source, handler or edge kind. Codes are stable for the whole run and ``names`` holds every
    name coded so far, so a writer stores the codes it has not stored yet and nothing else.
    ``edges`` holds every lineage edge, the primary ``caused_by`` ones included.
    ``end_updates`` raises ``end_seq`` (and sets ``emitted_ns`` when not null) of events written
    by earlier batches: an event still being dispatched when its batch left, or an ancestor of a
    later explicitly linked child.
    """

    run_id: str
    tag: str
    events: pa.Table
    edges: pa.Table
    deliveries: pa.Table
    end_updates: pa.Table
    names: tuple[str, ...]

    @property
    def num_events(self) -> int:
        return int(self.events.num_rows)


class BatchWriter(Protocol):
    """Persists one run's batches; every method is called from one thread at a time.

    A writer whose ``write_batch`` only appends to a file and defers the costly part to a
    thread of its own says so with a true ``appends_only`` attribute (absent means false): the
    batch processor then calls it at each hand-off, in the publishing thread, rather than from
    its writer thread (see ``processor.py`` for why that is faster).
    """

    def begin_run(self, run: RunInfo) -> None: ...

    def write_batch(self, batch: TraceBatch) -> None: ...

    def end_run(
        self, run_id: str, status: RunStatus, error: str | None, stats: RunStats
    ) -> None: ...

    def close(self) -> None: ...


class WriterSource(Protocol):
    """Anything that can give a tracer a writer for a new run (a store does)."""

    def batch_writer(self) -> BatchWriter: ...


class OpenRun(Protocol):
    """A run being traced into a store (an ``EventTracer``), which the store ends before it
    closes."""

    def end_before_store_closes(self) -> None: ...


@dataclass
class InMemoryWriter:
    """Keeps everything it is given: for unit tests of the tracer without a database."""

    runs: dict[str, RunInfo] = field(default_factory=dict)
    batches: list[TraceBatch] = field(default_factory=list)
    endings: dict[str, tuple[RunStatus, str | None, RunStats]] = field(default_factory=dict)
    closed: bool = False

    def begin_run(self, run: RunInfo) -> None:
        self.runs[run.run_id] = run

    def write_batch(self, batch: TraceBatch) -> None:
        self.batches.append(batch)

    def end_run(self, run_id: str, status: RunStatus, error: str | None, stats: RunStats) -> None:
        self.endings[run_id] = (status, error, stats)

    def close(self) -> None:
        self.closed = True

    def events(self) -> pa.Table:
        """Every event written, in write order (``end_updates`` not applied)."""
        return pa.concat_tables([b.events for b in self.batches])
