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


@dataclass(frozen=True, slots=True)
class RunStats:
    """Counters written on the ``runs`` row when the run ends."""

    event_count: int
    dropped_count: int = 0
    unencodable_count: int = 0
    lineage_exact: bool = True


@dataclass(frozen=True, slots=True)
class TraceBatch:
    """One unit of persistence: written in one transaction, all of it or none of it.

    ``events``/``edges``/``deliveries`` carry sequence numbers, not ids: writers derive ids as
    ``<tag>-<seq>``. ``end_updates`` raises ``end_seq`` of events written by earlier batches
    (an event still being dispatched when its batch left, or a later explicit child).
    """

    run_id: str
    tag: str
    events: pa.Table
    edges: pa.Table
    deliveries: pa.Table
    end_updates: pa.Table

    @property
    def num_events(self) -> int:
        return int(self.events.num_rows)


class BatchWriter(Protocol):
    """Persists one run's batches; every method is called from one thread at a time."""

    def begin_run(self, run: RunInfo) -> None: ...

    def write_batch(self, batch: TraceBatch) -> None: ...

    def end_run(
        self, run_id: str, status: RunStatus, error: str | None, stats: RunStats
    ) -> None: ...

    def close(self) -> None: ...


class WriterSource(Protocol):
    """Anything that can give a tracer a writer for a new run (a store does)."""

    def batch_writer(self) -> BatchWriter: ...


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
