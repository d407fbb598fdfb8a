"""A small traced program run as a real subprocess by the reliability scenarios.

    python tests/reliability/child.py MODE DB [options]

It publishes BARs, each handled by one handler that publishes a SIGNAL (so runs have edges and
deliveries), and reports its progress on stdout, one flushed line at a time, so the parent can
synchronize on a state (``committed N``, ``holding``, ``ready``…) before it kills, signals or
races it. Events carry ``{"i": n}`` so the parent can check which ones were stored.
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from eventstore import (
    Event,
    EventStoreError,
    EventTracer,
    StoreLockedError,
    TracedEventBus,
    open_store,
)
from eventstore.interrupts import sigterm_interrupts
from eventstore.store.bulk_writer import BulkDuckDBWriter
from eventstore.store.segments import segments_root
from eventstore.tracing import BatchWriter, RunInfo, RunStats, TraceBatch, TraceWriteError
from eventstore.tracing.writer import RunStatus

START = datetime(2024, 1, 2, 9, 30)


def say(line: str) -> None:
    print(line, flush=True)


def wait_for_parent() -> None:
    """Block until the parent writes a line (or kills us meanwhile)."""
    sys.stdin.readline()


class ReportingWriter:
    """Says ``committed N`` (N: events stored so far) each time ``write_batch`` returns: the
    batch is then in a segment file (or the database), and the durability promise covers it."""

    def __init__(self, inner: BatchWriter) -> None:
        self.inner = inner
        self.committed = 0
        self.offered = 0
        """Events of every batch given to the writer, the one being written included."""

    def begin_run(self, run: RunInfo) -> None:
        self.inner.begin_run(run)
        say(f"run {run.run_id}")

    def write_batch(self, batch: TraceBatch) -> None:
        self.offered += batch.num_events
        self.inner.write_batch(batch)
        self.committed += batch.num_events
        say(f"committed {self.committed}")

    def end_run(self, run_id: str, status: RunStatus, error: str | None, stats: RunStats) -> None:
        self.inner.end_run(run_id, status, error, stats)

    def close(self) -> None:
        self.inner.close()


class CommitGate:
    """A DuckDB connection whose ``--gate-at``-th commit (a segment load) waits for the parent
    ``before`` it commits (its rows are inserted, not committed, when the parent kills us) or
    ``after`` (committed, but its segment not yet deleted)."""

    def __init__(
        self,
        con: Any,
        at: int,
        when: str,
        writer: Callable[[], ReportingWriter],
        commits: list[int] | None = None,
    ) -> None:
        self._con = con
        self._at = at
        self._when = when
        self._writer = writer
        self._commits = [0] if commits is None else commits

    def cursor(self) -> CommitGate:
        """The loading thread's cursor: its commits count (and gate) with this one's."""
        return CommitGate(self._con.cursor(), self._at, self._when, self._writer, self._commits)

    def commit(self) -> None:
        self._commits[0] += 1
        gated = self._commits[0] == self._at
        if gated and self._when == "before":
            say(f"in-commit {self._writer().offered}")
            wait_for_parent()
        self._con.commit()
        if gated and self._when == "after":
            say(f"after-commit {self._writer().offered}")
            wait_for_parent()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


def traced_bus(on_error: str = "raise") -> TracedEventBus:
    bus = TracedEventBus("child", on_handler_error=on_error)  # type: ignore[arg-type]

    def strategy(bar: Event) -> None:
        bus.publish(Event("SIGNAL", bar.timestamp, {"bar": bar.payload["i"]}), source="strategy")

    bus.subscribe("BAR", strategy)
    return bus


def publish_bar(bus: TracedEventBus, i: int) -> None:
    bus.publish(Event("BAR", START + timedelta(minutes=i), {"i": i}), source="feed")


def run_batches(args: argparse.Namespace) -> None:
    """Each batch is written inside a publish (unless ``--background``): the one that ends a
    root's dispatch once ``--batch`` events are buffered (an even size is exact: BAR + SIGNAL
    trees), and loaded into DuckDB every ``--load-rows`` events. ``ReportingWriter`` says each
    written total."""
    store = open_store(args.db)
    raw = store.cursor()
    con: Any = raw
    writer: ReportingWriter | None = None
    if args.gate_at is not None:
        con = CommitGate(raw, args.gate_at, args.gate, lambda: writer)  # type: ignore[arg-type,return-value]
    root = segments_root(Path(args.db))
    writer = ReportingWriter(BulkDuckDBWriter(con, root, load_rows=args.load_rows))
    tracer = EventTracer(
        store=writer, batch_size=args.batch, background=args.background, name="child"
    )
    bus = traced_bus()
    with tracer:
        bus.set_tracer(tracer)
        i = 0
        extra = None
        while args.bars is None or i < args.bars:
            publish_bar(bus, i)
            i += 1
            if args.hold_after is not None and writer.committed >= args.hold_after:
                extra = 0 if extra is None else extra + 1
                if extra >= args.extra:
                    say(f"holding committed={writer.committed} recorded={tracer.event_count}")
                    wait_for_parent()
                    break


def run_signal(args: argparse.Namespace) -> int:
    """Records ``--bars`` bars with nothing flushed, then waits to be interrupted."""
    signal.signal(signal.SIGINT, signal.default_int_handler)  # as at a terminal
    store = open_store(args.db)
    bus = traced_bus()
    tracer = EventTracer(store=store, batch_size=10**9, flush_interval=3600, name="signal")
    try:
        with sigterm_interrupts(), tracer:
            bus.set_tracer(tracer)
            for i in range(args.bars):
                publish_bar(bus, i)
            say(f"published {tracer.event_count}")
            wait_for_parent()
            say("not interrupted")
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    finally:
        store.close()
    return 0


class StuckWriter(ReportingWriter):
    """Its first batch waits for a line from the parent; meanwhile it says ``queue-full`` once
    the tracer's queue is full, i.e. once the publisher is blocked handing off a batch."""

    def __init__(self, inner: BatchWriter, tracer_queue: Any) -> None:
        super().__init__(inner)
        self.queue = tracer_queue
        self.stuck = True

    def write_batch(self, batch: TraceBatch) -> None:
        if self.stuck:
            self.stuck = False
            while not self.queue().full():
                time.sleep(0.001)  # the publisher fills the queue in microseconds
            say("queue-full")
            wait_for_parent()
        super().write_batch(batch)


def run_interrupt_blocked(args: argparse.Namespace) -> int:
    """Ctrl-C while the publisher is blocked on a full queue (the writer is behind): every
    event recorded before it must still be stored when the run ends ``interrupted``."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    store = open_store(args.db)
    tracer: EventTracer | None = None
    writer = StuckWriter(store.batch_writer(), lambda: tracer._processor._queue)  # type: ignore[union-attr]
    tracer = EventTracer(store=writer, batch_size=args.batch, max_pending_batches=1)
    bus = traced_bus()
    try:
        with tracer:
            bus.set_tracer(tracer)
            for i in range(10**9):
                publish_bar(bus, i)
    except KeyboardInterrupt:
        say(f"interrupted recorded={tracer.event_count}")
        return 130
    finally:
        store.close()
    return 0


def run_hold(args: argparse.Namespace) -> None:
    """A background-writer run that holds the file open between two halves."""
    with open_store(args.db) as store:
        bus = traced_bus()
        with EventTracer(store=store, batch_size=args.batch, name="hold") as tracer:
            bus.set_tracer(tracer)
            for i in range(args.bars):
                publish_bar(bus, i)
            tracer.flush()
            say(f"ready {os.getpid()}")
            wait_for_parent()
            for i in range(args.bars, 2 * args.bars):
                publish_bar(bus, i)
    say("done")


def run_raise_in_handler(args: argparse.Namespace) -> None:
    """A handler raises at bar ``--bars``; the error escapes the program."""
    with open_store(args.db) as store:
        bus = traced_bus()

        def explode(bar: Event) -> None:
            if bar.payload["i"] == args.bars:
                raise RuntimeError(f"strategy bug at bar {args.bars}")

        bus.subscribe("BAR", explode)
        with EventTracer(store=store, batch_size=args.batch, name="raises") as tracer:
            bus.set_tracer(tracer)
            i = 0
            while True:
                publish_bar(bus, i)
                i += 1


def run_raise_at_exit(args: argparse.Namespace) -> None:
    """A tracer started without ``with``, and an uncaught exception at the top level: the
    tracer's atexit hook must still end the run ``failed`` with everything flushed."""
    store = open_store(args.db)
    bus = traced_bus()
    tracer = EventTracer(store=store, batch_size=args.batch, name="atexit").start()
    bus.set_tracer(tracer)
    for i in range(args.bars):
        publish_bar(bus, i)
    raise RuntimeError("uncaught at the top level")


def run_fsize(args: argparse.Namespace) -> None:
    """Commits ``--bars`` bars, then caps the file size (RLIMIT_FSIZE, SIGXFSZ ignored) so the
    next batch's write fails with EFBIG inside DuckDB, for real."""
    store = open_store(args.db)
    bus = traced_bus()
    tracer = EventTracer(store=store, batch_size=args.batch, background=False, name="fsize")
    try:
        with tracer:
            bus.set_tracer(tracer)
            for i in range(args.bars):
                publish_bar(bus, i)
            tracer.flush()
            say(f"committed {tracer.event_count}")
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            wal = args.db + ".wal"
            cap = (os.path.getsize(wal) if os.path.exists(wal) else 0) + args.cap
            resource.setrlimit(resource.RLIMIT_FSIZE, (cap, resource.RLIM_INFINITY))
            i = args.bars
            while True:  # until a write fails
                publish_bar(bus, i)
                i += 1
    except (TraceWriteError, EventStoreError) as exc:
        say(f"{type(exc).__name__} {exc}")
        say(f"published {tracer.event_count}")
    finally:
        store.close()


def run_open(args: argparse.Namespace) -> int:
    """Opens the file (for writing, or read-only) and says what happened."""
    try:
        with open_store(args.db, read_only=args.read_only, wait=args.wait) as store:
            (count,) = store.cursor().execute("SELECT count(*) FROM events").fetchone() or (0,)
            say(f"opened events={count}")
            if not args.read_only:
                bus = traced_bus()
                with EventTracer(store=store, name="second") as tracer:
                    bus.set_tracer(tracer)
                    publish_bar(bus, 0)
    except StoreLockedError as exc:
        say(f"locked {exc}")
        return 3
    return 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode")
    parser.add_argument("db")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--bars", type=int)
    parser.add_argument("--hold-after", type=int)
    parser.add_argument("--extra", type=int, default=0)
    parser.add_argument("--gate-at", type=int, help="batches mode: the load commit to block")
    parser.add_argument("--gate", choices=["before", "after"], default="before")
    parser.add_argument("--load-rows", type=int, default=200_000, help="batches mode")
    parser.add_argument("--cap", type=int, default=20_000)
    parser.add_argument("--wait", type=float, default=0.0)
    parser.add_argument("--read-only", action="store_true")
    parser.add_argument("--background", action="store_true", help="batches mode: writer thread")
    args = parser.parse_args()
    if args.mode == "batches":
        run_batches(args)
    elif args.mode == "signal":
        return run_signal(args)
    elif args.mode == "interrupt-blocked":
        return run_interrupt_blocked(args)
    elif args.mode == "hold":
        run_hold(args)
    elif args.mode == "raise-in-handler":
        run_raise_in_handler(args)
    elif args.mode == "raise-at-exit":
        run_raise_at_exit(args)
    elif args.mode == "fsize":
        run_fsize(args)
    elif args.mode == "open":
        return run_open(args)
    else:
        parser.error(f"unknown mode {args.mode!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
