"""Where batches are written: a writer that only appends (the DuckDB store's segment files) is
called at each hand-off in the publishing thread; any other on the tracer's writer thread. Both
get every batch in seq order, and what sits idle is flushed after ``flush_interval``."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest

from eventstore import Event, EventTracer, TracedEventBus
from eventstore.tracing.writer import InMemoryWriter, TraceBatch


@dataclass
class ThreadNotingWriter(InMemoryWriter):
    """Notes the thread each batch is written from."""

    threads: list[int] = field(default_factory=list)

    def write_batch(self, batch: TraceBatch) -> None:
        self.threads.append(threading.get_ident())
        super().write_batch(batch)


@dataclass
class AppendingWriter(ThreadNotingWriter):
    appends_only = True


def publish_bars(tracer: EventTracer, bars: int) -> None:
    bus = TracedEventBus("hand-offs")
    bus.subscribe("BAR", lambda bar: bus.publish(Event("SIGNAL", bar.timestamp, {})))
    bus.set_tracer(tracer)
    for i in range(bars):
        bus.publish(Event("BAR", datetime(2024, 1, 2) + timedelta(minutes=i), {"i": i}))


@pytest.mark.parametrize(
    ("writer_class", "inline"), [(AppendingWriter, True), (ThreadNotingWriter, False)]
)
def test_batches_are_written_inline_only_by_an_appending_writer(
    writer_class: type[ThreadNotingWriter], inline: bool
) -> None:
    writer = writer_class()
    with EventTracer(store=writer, batch_size=10) as tracer:
        publish_bars(tracer, 50)
    publisher = threading.get_ident()
    assert len(writer.threads) >= 10
    # the final hand-off at close is the caller's in both cases; the ones during the run differ
    during_run = writer.threads[:-1]
    assert all((t == publisher) == inline for t in during_run)
    seqs = writer.events().column("seq").to_pylist()
    assert seqs == list(range(1, 101))


@pytest.mark.parametrize("writer_class", [AppendingWriter, ThreadNotingWriter])
def test_idle_events_are_flushed_after_the_interval(writer_class: type[ThreadNotingWriter]) -> None:
    writer = writer_class()
    with EventTracer(store=writer, batch_size=10_000, flush_interval=0.05) as tracer:
        publish_bars(tracer, 3)
        deadline = time.monotonic() + 30
        while not writer.batches and time.monotonic() < deadline:
            time.sleep(0.01)
        assert writer.batches, "6 idle events were never flushed"
        assert writer.events().num_rows == 6
        assert writer.threads[0] != threading.get_ident()  # the tracer's thread flushed them
        publish_bars(tracer, 2)
    assert writer.events().column("seq").to_pylist() == list(range(1, 11))
