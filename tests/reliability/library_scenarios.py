"""In-process scenarios against a real DuckDB file: a failing writer, threads and asyncio tasks
on one bus, a writer that falls behind, and payloads of every documented kind."""

from __future__ import annotations

import asyncio
import logging
import random
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from eventstore import Event, EventTracer, TracedEventBus, TraceWriteError, open_store
from eventstore.store.duckdb_writer import DuckDBBatchWriter
from eventstore.tracing import BatchWriter, RunInfo, RunStats, TraceBatch
from eventstore.tracing.writer import RunStatus
from tests.reliability.harness import Outcome, check_store, earlier_run, the_run
from tests.reliability.integrity import inspect_store
from tests.reliability.payloads import check_payloads

START = datetime(2024, 1, 2, 9, 30)


class FailingConnection:
    """A DuckDB connection whose ``fail_on``-th transaction fails after its events were
    inserted (once the statements that insert them have run, or at COMMIT): the writer must
    roll all of it back. A writer's transaction is one script that begins it, then a commit."""

    def __init__(self, con: duckdb.DuckDBPyConnection, fail_on: int, at_commit: bool) -> None:
        self._con = con
        self._fail_on = fail_on
        self._at_commit = at_commit
        self._transactions = 0

    def _failing(self) -> bool:
        return self._transactions == self._fail_on

    def execute(self, query: str, *args: Any) -> Any:
        result = self._con.execute(query, *args)
        if query.startswith("BEGIN TRANSACTION"):
            self._transactions += 1
            if self._failing() and not self._at_commit:
                raise duckdb.IOException("simulated: No space left on device")
        return result

    def commit(self) -> None:
        if self._failing() and self._at_commit:
            raise duckdb.IOException("simulated: No space left on device (at commit)")
        self._con.commit()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


class FailingWriter:
    """A ``BatchWriter`` that raises on its ``fail_on``-th batch, before writing any of it."""

    def __init__(self, inner: BatchWriter, fail_on: int) -> None:
        self.inner = inner
        self.fail_on = fail_on
        self.batches = 0

    def begin_run(self, run: RunInfo) -> None:
        self.inner.begin_run(run)

    def write_batch(self, batch: TraceBatch) -> None:
        self.batches += 1
        if self.batches == self.fail_on:
            raise OSError(28, "simulated: No space left on device")
        self.inner.write_batch(batch)

    def end_run(self, run_id: str, status: RunStatus, error: str | None, stats: RunStats) -> None:
        self.inner.end_run(run_id, status, error, stats)

    def close(self) -> None:
        self.inner.close()


def write_failure(
    work: Path, rng: random.Random, *, background: bool | None = None, where: str | None = None
) -> Outcome:
    """Batch k fails (before any row, mid-transaction, or at COMMIT): the program gets
    ``TraceWriteError``, the run is ``failed`` saying why, batches 1..k-1 are stored whole and
    nothing of batch k or later is."""
    db = work / "runs.duckdb"
    earlier_run(db)
    before = inspect_store(db)
    background = rng.random() < 0.5 if background is None else background
    where = rng.choice(["writer", "statement", "commit"]) if where is None else where
    batch, fail_on = 20, rng.randint(1, 6)
    expected = (fail_on - 1) * batch
    outcome = Outcome(f"write fails ({where}, background={background})", expected, "?")
    told: TraceWriteError | None = None
    bus = TracedEventBus("faulty")
    bus.subscribe("BAR", lambda bar: bus.publish(Event("SIGNAL", bar.timestamp, {})))
    with open_store(db) as store:
        con = store.cursor()
        writer: BatchWriter
        if where == "writer":
            writer = FailingWriter(DuckDBBatchWriter(con), fail_on)
        else:
            failing = FailingConnection(con, fail_on, at_commit=where == "commit")
            writer = DuckDBBatchWriter(failing)  # type: ignore[arg-type]
        tracer = EventTracer(store=writer, batch_size=batch, background=background)
        try:
            with tracer:
                bus.set_tracer(tracer)
                for i in range((fail_on + 3) * batch):
                    bus.publish(Event("BAR", START + timedelta(minutes=i), {"i": i}))
        except TraceWriteError as exc:
            told = exc
    outcome.check(told is not None, "the program was never told the write failed")
    if told is not None:
        outcome.check("simulated" in str(told), f"TraceWriteError hides the cause: {told}")
    states = check_store(outcome, db, before)
    run = the_run(states, before)
    if run is None:
        outcome.problems.append("the failed run is missing")
        return outcome
    outcome.found = run.stored
    outcome.check(run.stored == expected, f"{run.stored} stored, {expected} committed before")
    outcome.check(run.status == "failed", f"status {run.status}")
    error = run.error or ""
    outcome.check(error.startswith("writing a batch failed: "), f"error {error!r}")
    outcome.check("simulated" in error, f"the error does not say why: {error!r}")
    return outcome


def threads_and_tasks(
    work: Path, rng: random.Random, *, batch_size: int | None = None, background: bool = True
) -> Outcome:
    """Threads, each running asyncio tasks, publish on one bus; handlers publish children two
    levels deep. Every event once, seqs gapless, every child caused by its own parent."""
    db = work / "runs.duckdb"
    threads, tasks, bars = 4, 3, 20
    batch_size = rng.choice([3, 7, 64]) if batch_size is None else batch_size
    bus = TracedEventBus("shared")

    def strategy(bar: Event) -> None:
        key = bar.payload["key"]
        for side in ("buy", "sell"):
            bus.publish(Event("SIGNAL", bar.timestamp, {"key": f"{key}/{side}", "of": key}))

    def risk(signal: Event) -> None:
        key = signal.payload["key"]
        bus.publish(Event("ORDER", signal.timestamp, {"key": f"{key}/o", "of": key}))

    bus.subscribe("BAR", strategy)
    bus.subscribe("SIGNAL", risk)

    async def feed(thread: int, task: int) -> None:
        for i in range(bars):
            key = f"t{thread}.k{task}.{i}"
            bus.publish(Event("BAR", START + timedelta(minutes=i), {"key": key, "of": None}))
            await asyncio.sleep(0)  # let the thread's other tasks publish in between

    async def thread_main(thread: int) -> None:
        await asyncio.gather(*(feed(thread, t) for t in range(tasks)))

    expected = threads * tasks * bars * 5  # BAR, 2 SIGNALs, 2 ORDERs
    outcome = Outcome(f"{threads} threads x {tasks} tasks, batch {batch_size}", expected, "?")
    with open_store(db) as store:
        tracer = EventTracer(
            store=store, batch_size=batch_size, background=background, max_pending_batches=2
        )
        with tracer:
            bus.set_tracer(tracer)
            workers = [
                threading.Thread(target=asyncio.run, args=(thread_main(t),)) for t in range(threads)
            ]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
    states = check_store(outcome, db)
    run = the_run(states, {})
    if run is None:
        outcome.problems.append("the run is missing")
        return outcome
    outcome.found = run.stored
    outcome.check(run.stored == expected, f"{run.stored} stored of {expected}")
    with open_store(db, read_only=True) as store:
        con = store.cursor()
        wrong = con.execute(
            """SELECT count(*) FROM events c LEFT JOIN events p
                 ON p.run_id = c.run_id AND p.event_id = c.causation_id
               WHERE c.payload->>'of' IS DISTINCT FROM p.payload->>'key'"""
        ).fetchone()
        keys = con.execute("SELECT count(DISTINCT payload->>'key') FROM events").fetchone()
        deliveries = con.execute("SELECT count(*) FROM deliveries").fetchone()
        con.close()
    outcome.check(wrong == (0,), f"{wrong} events with the wrong cause")
    outcome.check(keys == (expected,), f"{keys} distinct payloads of {expected}")
    # One delivery per BAR and per SIGNAL (ORDERs have no handler).
    outcome.check(deliveries == (expected * 3 // 5,), f"{deliveries} deliveries")
    return outcome


class GatedWriter:
    """A writer that cannot write until ``gate`` opens: the slowest writer there is."""

    def __init__(self, inner: BatchWriter) -> None:
        self.inner = inner
        self.gate = threading.Event()
        self.entered = threading.Event()

    def begin_run(self, run: RunInfo) -> None:
        self.inner.begin_run(run)

    def write_batch(self, batch: TraceBatch) -> None:
        self.entered.set()
        self.gate.wait()
        self.inner.write_batch(batch)

    def end_run(self, run_id: str, status: RunStatus, error: str | None, stats: RunStats) -> None:
        self.inner.end_run(run_id, status, error, stats)

    def close(self) -> None:
        self.inner.close()


def backpressure(work: Path, rng: random.Random) -> Outcome:
    """While the writer is stuck, the publisher blocks once ``max_pending_batches`` batches
    wait (memory stays bounded); when it catches up, every event is stored, none dropped."""
    db = work / "runs.duckdb"
    batch, pending = rng.choice([5, 10, 50]), rng.randint(1, 4)
    total = batch * (pending + 2) * 4
    # One batch in the writer, `pending` queued, one being handed off: the rest must wait.
    bound = batch * (pending + 2)
    outcome = Outcome(f"stuck writer, {pending} pending batches of {batch}", total, "?")
    published = 0
    with open_store(db) as store:
        writer = GatedWriter(store.batch_writer())
        tracer = EventTracer(store=writer, batch_size=batch, max_pending_batches=pending)
        bus = TracedEventBus("fast")
        bus.set_tracer(tracer)
        tracer.start()

        def publish_all() -> None:
            nonlocal published
            for i in range(total):
                bus.publish(Event("BAR", START, {"i": i}))
                published += 1

        publisher = threading.Thread(target=publish_all)
        publisher.start()
        writer.entered.wait()
        # Give a publisher that fails to block every chance to overrun the bound.
        publisher.join(timeout=0.5)
        outcome.check(publisher.is_alive(), "the publisher never blocked on a stuck writer")
        outcome.check(published < bound, f"{published} published past a bound of {bound}")
        writer.gate.set()
        publisher.join()
        tracer.close()
    states = check_store(outcome, db)
    run = the_run(states, {})
    if run is None:
        outcome.problems.append("the run is missing")
        return outcome
    outcome.found = run.stored
    outcome.check(run.stored == total and run.status == "completed", f"{run}")
    with open_store(db, read_only=True) as store:
        dropped = store.cursor().execute("SELECT dropped_count FROM runs").fetchone()
    outcome.check(dropped == (0,), f"dropped_count {dropped}")
    return outcome


def payloads(work: Path, rng: random.Random) -> Outcome:
    """Every documented payload kind, read back from the file as JSON (see payloads.py)."""
    return check_payloads(work / "runs.duckdb", rng)


def odd_strings(work: Path, rng: random.Random) -> Outcome:
    """Strings Python holds but UTF-8 cannot (lone surrogates, as ``os.fsdecode`` makes of an
    undecodable file name) in an event type, a source, a lineage kind, a partition key and a
    handler's error message: stored escaped, never a failed batch that loses its events."""
    db = work / "runs.duckdb"
    bus = TracedEventBus("odd", on_handler_error="log")
    name = "data/\udcff.csv"  # what a Latin-1 file name looks like to Python on a UTF-8 system

    def load(bar: Event) -> None:
        raise FileNotFoundError(2, "No such file or directory", name)

    bus.subscribe("BAR", load)
    events = rng.randint(1, 40)
    expected = 2 * events
    outcome = Outcome("unencodable strings in types, sources, errors", expected, "?")
    log = logging.getLogger("eventstore.tracing.traced_bus")
    level = log.level
    log.setLevel(logging.CRITICAL)  # one logged traceback per failed handler call is noise here
    try:
        with open_store(db) as store, EventTracer(store=store, batch_size=16) as tracer:
            bus.set_tracer(tracer)
            for i in range(events):
                bar = Event("BAR", START, {"i": i}, {"partition_key": "p\udcff"})
                bus.publish(bar, source=f"feed-\udcfe{i}")
                bus.publish(Event("T\ud800", START, {}), parents=[("kind\udc80", bar)])
    except TraceWriteError as exc:
        outcome.problems.append(f"the run failed writing: {exc}")
    finally:
        log.setLevel(level)
    states = check_store(outcome, db)
    run = the_run(states, {})
    if run is None:
        outcome.problems.append("the run is missing")
        return outcome
    outcome.found = run.stored
    outcome.check(run.stored == expected, f"{run.stored} stored of {expected}")
    outcome.check(run.status == "completed", f"status {run.status}: {run.error}")
    with open_store(db, read_only=True) as store:
        errors = store.cursor().execute("SELECT DISTINCT error FROM deliveries").fetchall()
    outcome.check(len(errors) == 1 and "data/" in str(errors[0][0]), f"errors {errors}")
    return outcome
