"""What tracing costs: eventstore (compiled and pure-Python recorders) against an untraced bus,
OpenTelemetry, VizTracer and a raw bulk DuckDB insert.

Run from the repository root::

    python benchmarks/bench_tracing.py              # defaults: 5 repeats, memory check on
    python benchmarks/bench_tracing.py --events 50000 --repeats 3 --skip-memory   # quick look

What is measured (every variant publishes the same workload, built the same way)
--------------------------------------------------------------------------------
Each event is created in the loop the way a real feed creates it,
``Event(EventType.BAR, ts, {"symbol": ..., "close": ...})``, from input lists prepared beforehand,
and dispatched synchronously to one small handler (it keeps the last close per symbol). The
creation, dispatch and handler cost is therefore the same in every variant and cancels out in
the differences. Variants:

1. ``EventBus``: untraced publish + dispatch, the baseline.
2. ``TracedEventBus`` + ``EventTracer()`` without a store: the hot path (ids, lineage, clock
   reads and one delivery per handler call, appended to the recorder's buffers; drained
   batches are dropped), with the recorder this process uses (compiled unless it can't load).
3. ``TracedEventBus`` + ``EventTracer(store=...)`` writing to a fresh DuckDB file: all in,
   from creating the tracer to ``close()`` returning (the final write included), so the
   writer thread's cost is amortized over the events. ``open_store`` (schema creation) is
   outside the timing: it happens once per database, not once per run.
1p, 2p, 3p. Variants 1 to 3 again in a child process started with ``EVENTSTORE_PURE_PYTHON=1``
   (the recorder is chosen once per process, at import), so the pure-Python fallback is
   measured in the same run; its overheads are paired with the child's own untraced bus (1p).
4. OpenTelemetry Python SDK: the same ``EventBus`` with ``publish`` wrapped in
   ``tracer.start_as_current_span(event_type)`` (one span per event, no attributes: the cheapest
   honest instrumentation), a fresh ``TracerProvider`` with a default ``BatchSpanProcessor`` and
   an exporter that discards spans; ``force_flush()`` and ``shutdown()`` are timed.
5. VizTracer (C core), in memory, no file written: the same ``EventBus`` with ``publish``
   calling ``log_instant(event_type, args=payload)`` before dispatching, between
   ``VizTracer(tracer_entries=..., verbose=0)``, ``start()`` and ``stop()`` (all timed). Started
   with its defaults, VizTracer also records every Python function entry; 5i is the same with
   ``max_stack_depth=0``, so only the custom events are recorded (its profile hook still runs):
   VizTracer's custom event alone, the figure issue 9 compares ours with.
6. Raw DuckDB: the columns the writer stores (the event and delivery tables the recorder
   drains for this very workload, plus the run number), inserted as one bulk
   ``INSERT ... SELECT`` per table from Arrow, in one transaction, into scratch tables of the
   same column types (payload as the store stores it) that the benchmark creates itself. No
   Python per-event work: the ceiling for ingest, whatever the store's own tables are.

Variants run interleaved inside each repeat (in a rotating order; the child's three run as one
slot), so machine noise hits them alike; ``gc`` stays enabled, as in real programs, and is
collected before (never during) each timed section. Figures are medians over repeats; overheads
are medians of the per-repeat differences to the untraced bus of the same process (paired, so a
slow repeat does not skew them).

How to read the output
----------------------
``µs/event`` is wall time divided by events (for variant 6, per event inserted with its
delivery row). ``overhead`` is what the variant adds per event over the untraced bus: the
figure the targets of issue 9 are about. ``cpu µs`` is process CPU time (every thread) per
event: other load on a shared machine inflates wall time far more than it, so compare the two
before trusting a verdict; the load average at start and end is printed for the same reason.
Ingest is reported two ways: all in (events/s of variant 3, including publishing and
dispatching them, over events/s of variant 6) and writer only (events/s counted over the time
spent inside the store writer's ``write_batch`` and ``end_run`` calls, where it writes files
and DuckDB; draining to Arrow and encoding are not in it). The memory section traces
``--memory-events`` events into a DuckDB file in a fresh process, ``--memory-repeats`` times,
and reports the median run's resident memory (RSS) after a warm-up and afterwards, with the
part held by DuckDB's buffer manager (``duckdb_memory()``) shown apart; the target is growth,
not the absolute size.
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import orjson
import pyarrow as pa
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import Tracer
from viztracer import VizTracer

import eventstore
from eventstore import (
    Event,
    EventBus,
    EventTracer,
    EventType,
    Store,
    TracedEventBus,
    UniversalContainer,
    open_store,
)
from eventstore.tracing import InMemoryWriter, RunInfo, RunStats, TraceBatch
from eventstore.tracing.implementation import RECORDER_NAME

BAR = EventType.BAR
SYMBOLS = ("SPY", "QQQ", "IWM", "TLT", "GLD", "EEM", "XLF", "XLE", "XLK", "HYG")

# Targets from issue 9, "Performance".
TARGET_HOT_PATH_US = 0.5
TARGET_DUCKDB_US = 1.5
TARGET_OTEL_FACTOR = 15.0
TARGET_INGEST_SHARE = 0.70
TARGET_PURE_HOT_PATH_US = 2.33  # the pure-Python fallback: no slower than before issue 9
TARGET_PURE_DUCKDB_US = 7.47
TARGET_RSS_GROWTH_MB = 50.0

# Run in this process, then in the pure-Python child, in the order of the table.
LOCAL = ("untraced", "buffer", "duckdb", "otel", "viztracer", "viz_instant", "raw")
CHILD = ("untraced", "buffer", "duckdb")
PURE = tuple(f"pure_{v}" for v in CHILD)
VARIANTS = LOCAL[:3] + PURE + LOCAL[3:]
LABELS = {
    "untraced": "1  EventBus, untraced",
    "buffer": "2  TracedEventBus, buffer only",
    "duckdb": "3  TracedEventBus -> DuckDB file",
    "pure_untraced": "1p EventBus, untraced (pure process)",
    "pure_buffer": "2p buffer only, pure-Python",
    "pure_duckdb": "3p DuckDB file, pure-Python",
    "otel": "4  OpenTelemetry SDK, span/event",
    "viztracer": "5  VizTracer log_instant, defaults",
    "viz_instant": "5i VizTracer log_instant only",
    "raw": "6  raw DuckDB bulk Arrow insert",
}
BASELINE = {v: "pure_untraced" if v in PURE else "untraced" for v in VARIANTS}
OVERHEAD = ("buffer", "duckdb", "pure_buffer", "pure_duckdb", "otel", "viztracer", "viz_instant")


# ---------------------------------------------------------------------------- the workload


@dataclass(frozen=True)
class Feed:
    """The inputs of ``n`` bars, prepared before timing (as a feed reads them from a file)."""

    times: list[datetime]
    symbols: list[str]
    closes: list[float]

    @classmethod
    def make(cls, n: int, seed: int = 7) -> Feed:
        rng = np.random.default_rng(seed)
        start = datetime(2024, 1, 2, 9, 30)
        minute = timedelta(minutes=1)
        closes = (100.0 + rng.standard_normal(n).cumsum() * 0.05).round(4).tolist()
        return cls(
            times=[start + minute * (i // len(SYMBOLS)) for i in range(n)],
            symbols=[SYMBOLS[i % len(SYMBOLS)] for i in range(n)],
            closes=closes,
        )

    def __len__(self) -> int:
        return len(self.times)


class LastClose:
    """The handler every variant subscribes: a little real work, the same everywhere."""

    def __init__(self) -> None:
        self.last: dict[str, float] = {}

    def __call__(self, event: Event) -> None:
        payload = event.payload
        self.last[payload["symbol"]] = payload["close"]


def publish_untraced(bus: EventBus, feed: Feed) -> None:
    publish = bus.publish
    for ts, symbol, close in zip(feed.times, feed.symbols, feed.closes, strict=True):
        publish(Event(BAR, ts, {"symbol": symbol, "close": close}))


def publish_traced(bus: TracedEventBus, feed: Feed, source: UniversalContainer) -> None:
    publish = bus.publish
    for ts, symbol, close in zip(feed.times, feed.symbols, feed.closes, strict=True):
        publish(Event(BAR, ts, {"symbol": symbol, "close": close}), source)


# ---------------------------------------------------------------------------- helpers


class TimedWriter:
    """Wraps the store's writer and times the calls where it writes (``write_batch`` and
    ``end_run``, where a bulk writer loads what is pending): the writer-only ingest figure.
    Everything else is passed through unchanged, whatever the writer offers."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.seconds = 0.0
        self.event_rows = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def begin_run(self, run: RunInfo) -> None:
        self._inner.begin_run(run)

    def write_batch(self, batch: TraceBatch) -> None:
        start = time.perf_counter()
        self._inner.write_batch(batch)
        self.seconds += time.perf_counter() - start
        self.event_rows += batch.events.num_rows

    def end_run(self, run_id: str, status: Any, error: str | None, stats: RunStats) -> None:
        start = time.perf_counter()
        self._inner.end_run(run_id, status, error, stats)
        self.seconds += time.perf_counter() - start

    def close(self) -> None:
        self._inner.close()


class DiscardingExporter(SpanExporter):
    """An OpenTelemetry exporter that only counts what it is given."""

    def __init__(self) -> None:
        self.exported = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.exported += len(spans)
        return SpanExportResult.SUCCESS


class OTelEventBus(EventBus):
    """An ``EventBus`` instrumented the OpenTelemetry way: one span around each publish, so
    spans nest (parent = the event being handled) like our causation does."""

    def __init__(self, name: str, tracer: Tracer) -> None:
        super().__init__(name)
        self._tracer = tracer

    def publish(self, event: Event) -> None:
        with self._tracer.start_as_current_span(event.event_type):
            EventBus.publish(self, event)


class VizEventBus(EventBus):
    """An ``EventBus`` instrumented with VizTracer: one custom (instant) event per publish,
    with the payload as its args, recorded in VizTracer's in-memory buffer."""

    def __init__(self, name: str, tracer: VizTracer) -> None:
        super().__init__(name)
        self._log = tracer.log_instant

    def publish(self, event: Event) -> None:
        self._log(event.event_type, args=event.payload)
        EventBus.publish(self, event)


@dataclass(frozen=True)
class RawTables:
    """What the writer stores for a workload, as Arrow: the drained event and delivery
    columns with the run number in front, each one table for one bulk insert."""

    events: pa.Table
    deliveries: pa.Table

    @classmethod
    def capture(cls, feed: Feed, batch_size: int) -> RawTables:
        """Trace ``feed`` into memory and keep what the recorder drains: the same columns,
        types and values the store's writer is handed."""
        bus = TracedEventBus("bench")
        bus.subscribe(BAR, LastClose())
        writer = InMemoryWriter()
        tracer = EventTracer(store=writer, batch_size=batch_size)
        bus.set_tracer(tracer)
        with tracer:
            publish_traced(bus, feed, UniversalContainer("DataFeed"))
        bus.set_tracer(None)

        def numbered(tables: list[pa.Table]) -> pa.Table:
            table = pa.concat_tables(tables).combine_chunks()
            return table.add_column(0, "run_no", pa.array([1] * table.num_rows, pa.int32()))

        return cls(
            events=numbered([b.events for b in writer.batches]),
            deliveries=numbered([b.deliveries for b in writer.batches]),
        )


def stored_payload_type(con: duckdb.DuckDBPyConnection) -> str:
    """The column type the store gives payloads in its own (base) tables: VARCHAR or JSON."""
    rows = con.execute(
        "SELECT c.data_type FROM information_schema.columns c "
        "JOIN information_schema.tables t USING (table_schema, table_name) "
        "WHERE c.column_name = 'payload' AND t.table_type = 'BASE TABLE' "
        "ORDER BY c.table_name LIMIT 1"
    ).fetchall()
    return str(rows[0][0]) if rows else "VARCHAR"


def query(store: Store, sql: str) -> list[Any]:
    """Run ``sql`` on a cursor of its own and fetch every row: a result left half-read keeps
    its transaction open, and an open transaction stops DuckDB's automatic checkpoints (the
    store's memory then grows with everything written)."""
    cursor = store.cursor()
    try:
        return cursor.execute(sql).fetchall()
    finally:
        cursor.close()


def rss_bytes() -> int:
    """Resident set size of this process."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import psutil  # type: ignore[import-untyped]  # not Linux: needs pip install psutil

        return int(psutil.Process().memory_info().rss)


def package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


# ---------------------------------------------------------------------------- one repeat


@dataclass
class Sample:
    """One timed run of one variant: wall time, and CPU time of the whole process (every
    thread: writer, DuckDB's, OpenTelemetry's), which other load on the machine inflates less."""

    seconds: float
    cpu_seconds: float
    count: int
    notes: dict[str, float] = field(default_factory=dict)

    @property
    def us_per_event(self) -> float:
        return self.seconds / self.count * 1e6

    @property
    def cpu_us_per_event(self) -> float:
        return self.cpu_seconds / self.count * 1e6


class Stopwatch:
    """Wall clock (``perf_counter``) and process CPU time, started together."""

    def __init__(self) -> None:
        self._cpu = time.process_time()
        self._wall = time.perf_counter()

    def sample(self, count: int, notes: dict[str, float] | None = None) -> Sample:
        wall = time.perf_counter() - self._wall
        cpu = time.process_time() - self._cpu
        return Sample(wall, cpu, count, notes or {})


class Runner:
    def __init__(self, feed: Feed, batch_size: int, workdir: Path) -> None:
        self.feed = feed
        self.batch_size = batch_size
        self.workdir = workdir
        self.source = UniversalContainer("DataFeed")
        self._raw: RawTables | None = None
        self._files = 0

    def _fresh_path(self, stem: str) -> Path:
        self._files += 1
        return self.workdir / f"{stem}-{os.getpid()}-{self._files}.duckdb"

    def run(self, variant: str) -> Sample:
        method: Callable[[], Sample] = getattr(self, f"run_{variant}")
        return method()

    def run_untraced(self) -> Sample:
        bus = EventBus("bench")
        bus.subscribe(BAR, LastClose())
        gc.collect()
        clock = Stopwatch()
        publish_untraced(bus, self.feed)
        return clock.sample(len(self.feed))

    def run_buffer(self) -> Sample:
        bus = TracedEventBus("bench")
        bus.subscribe(BAR, LastClose())
        gc.collect()
        clock = Stopwatch()
        tracer = EventTracer(batch_size=self.batch_size)
        bus.set_tracer(tracer)
        with tracer:
            publish_traced(bus, self.feed, self.source)
        sample = clock.sample(len(self.feed))
        bus.set_tracer(None)
        return sample

    def run_duckdb(self) -> Sample:
        path = self._fresh_path("traced")
        store = open_store(path)
        try:
            bus = TracedEventBus("bench")
            bus.subscribe(BAR, LastClose())
            gc.collect()
            clock = Stopwatch()
            writer = TimedWriter(store.batch_writer())
            tracer = EventTracer(store=writer, batch_size=self.batch_size)
            bus.set_tracer(tracer)
            with tracer:
                publish_traced(bus, self.feed, self.source)
            sample = clock.sample(len(self.feed))
            bus.set_tracer(None)
            stored = int(query(store, "SELECT count(*) FROM events")[0][0])
        finally:
            store.close()
            remove_store(path)
        if stored != len(self.feed):
            raise RuntimeError(f"the tracer stored {stored} events of {len(self.feed)}")
        sample.notes.update(write_seconds=writer.seconds, write_rows=float(writer.event_rows))
        return sample

    def run_otel(self) -> Sample:
        gc.collect()
        clock = Stopwatch()
        exporter = DiscardingExporter()
        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(exporter))
        bus = OTelEventBus("bench", provider.get_tracer("bench"))
        bus.subscribe(BAR, LastClose())
        publish_untraced(bus, self.feed)
        provider.force_flush()
        provider.shutdown()
        return clock.sample(len(self.feed), {"exported": float(exporter.exported)})

    def _run_viztracer(self, **options: Any) -> Sample:
        # Room for every record: the instant and, with the defaults, each function entry.
        entries = 16 * len(self.feed) + 1_000
        gc.collect()
        clock = Stopwatch()
        tracer = VizTracer(tracer_entries=entries, verbose=0, **options)
        bus = VizEventBus("bench", tracer)
        bus.subscribe(BAR, LastClose())
        tracer.start()
        publish_untraced(bus, self.feed)
        tracer.stop()
        sample = clock.sample(len(self.feed))
        sample.notes["recorded"] = float(tracer.parse())
        tracer.clear()
        return sample

    def run_viztracer(self) -> Sample:
        return self._run_viztracer()

    def run_viz_instant(self) -> Sample:
        return self._run_viztracer(max_stack_depth=0)

    def run_raw(self) -> Sample:
        if self._raw is None:
            self._raw = RawTables.capture(self.feed, self.batch_size)
        raw = self._raw
        path = self._fresh_path("raw")
        store = open_store(path)
        try:
            con = store.cursor()
            payload_type = stored_payload_type(con)
            con.register("_bench_events", raw.events)
            con.register("_bench_deliveries", raw.deliveries)
            for table in ("events", "deliveries"):
                con.execute(
                    f"CREATE TABLE _bench_raw_{table} AS SELECT * FROM _bench_{table} LIMIT 0"
                )
            con.execute(f"ALTER TABLE _bench_raw_events ALTER payload TYPE {payload_type}")
            gc.collect()
            clock = Stopwatch()
            con.begin()
            con.execute("INSERT INTO _bench_raw_events SELECT * FROM _bench_events")
            con.execute("INSERT INTO _bench_raw_deliveries SELECT * FROM _bench_deliveries")
            con.commit()
            sample = clock.sample(len(self.feed))
            con.close()
        finally:
            store.close()
            remove_store(path)
        return sample


def remove_store(path: Path) -> None:
    """Delete a store file and whatever the store keeps beside it (WAL, segment files)."""
    for sibling in path.parent.glob(f"{path.name}*"):
        if sibling.is_dir():
            shutil.rmtree(sibling, ignore_errors=True)
        else:
            sibling.unlink(missing_ok=True)


# ---------------------------------------------------------------------------- pure-Python child

_child_runner: Runner | None = None


def child_repeat(
    events: int, batch_size: int, workdir: str, order: Sequence[str]
) -> tuple[str, dict[str, Sample]]:
    """One repeat of ``order`` (variants of ``CHILD``) in the pure-Python child process; the
    first call builds the feed and warms up, as the parent does."""
    global _child_runner
    if _child_runner is None:
        warm = Runner(Feed.make(min(events, 20_000)), batch_size, Path(workdir))
        for variant in CHILD:
            warm.run(variant)
        _child_runner = Runner(Feed.make(events), batch_size, Path(workdir))
    return RECORDER_NAME, {variant: _child_runner.run(variant) for variant in order}


@contextmanager
def pure_python_child() -> Iterator[ProcessPoolExecutor]:
    """A worker process that imports eventstore with ``EVENTSTORE_PURE_PYTHON=1``: the
    recorder is chosen once per process, at import, so the fallback needs a process of its own.
    """
    saved = os.environ.get("EVENTSTORE_PURE_PYTHON")
    os.environ["EVENTSTORE_PURE_PYTHON"] = "1"
    try:
        context = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(max_workers=1, mp_context=context)
        pool.submit(os.getpid).result()  # the worker starts now, with the variable set
    finally:
        if saved is None:
            del os.environ["EVENTSTORE_PURE_PYTHON"]
        else:
            os.environ["EVENTSTORE_PURE_PYTHON"] = saved
    with pool:
        yield pool


# ---------------------------------------------------------------------------- memory


def memory_run(events: int, batch_size: int, workdir: str, name: str) -> dict[str, Any]:
    """Trace ``events`` events into a fresh DuckDB file; RSS after a warm-up and afterwards.

    Runs in a fresh process, so nothing else this benchmark allocated hides or adds growth. The
    feed is one chunk replayed (timestamps shifted), so its own memory is allocated up front.
    """
    chunk = Feed.make(min(events, 100_000))
    warmup = min(events // 10, 500_000)
    source = UniversalContainer("DataFeed")
    store = open_store(Path(workdir) / name)
    bus = TracedEventBus("bench")
    bus.subscribe(BAR, LastClose())

    def duckdb_bytes() -> float:
        sql = "SELECT coalesce(sum(memory_usage_bytes), 0) FROM duckdb_memory()"
        return float(query(store, sql)[0][0])

    def duckdb_tags() -> str:
        rows = query(
            store,
            "SELECT tag, memory_usage_bytes FROM duckdb_memory() WHERE memory_usage_bytes > 0 "
            "ORDER BY memory_usage_bytes DESC LIMIT 4",
        )
        return ", ".join(f"{tag} {size / 2**20:,.0f} MB" for tag, size in rows) or "none"

    memory_limit = str(query(store, "SELECT current_setting('memory_limit')")[0][0])

    published = 0
    warm_rss = warm_duck = peak_rss = 0.0
    start = time.perf_counter()
    tracer = EventTracer(store=store, batch_size=batch_size)
    bus.set_tracer(tracer)
    with tracer:
        while published < events:
            take = min(len(chunk), events - published)
            shift = timedelta(days=published // len(chunk))
            publish = bus.publish
            for ts, symbol, close in zip(
                chunk.times[:take], chunk.symbols[:take], chunk.closes[:take], strict=True
            ):
                publish(Event(BAR, ts + shift, {"symbol": symbol, "close": close}), source)
            published += take
            if not warm_rss and published >= warmup:
                tracer.flush()
                warm_rss, warm_duck = float(rss_bytes()), duckdb_bytes()
            peak_rss = max(peak_rss, float(rss_bytes()))
        tracer.flush()
        end_rss, end_duck, end_tags = float(rss_bytes()), duckdb_bytes(), duckdb_tags()
    seconds = time.perf_counter() - start
    closed_rss = float(rss_bytes())
    stored = float(query(store, "SELECT count(*) FROM events")[0][0])
    store.close()
    return {
        "recorder": RECORDER_NAME,
        "duck_tags": end_tags,
        "duck_limit": memory_limit,
        "events": float(events),
        "warmup": float(warmup),
        "stored": stored,
        "seconds": seconds,
        "warm_rss": warm_rss,
        "peak_rss": max(peak_rss, end_rss),
        "end_rss": end_rss,
        "closed_rss": closed_rss,
        "warm_duck": warm_duck,
        "end_duck": end_duck,
    }


def growth_bytes(memory: dict[str, Any]) -> float:
    return float(memory["peak_rss"] - memory["warm_rss"])


def median_memory_run(
    args: argparse.Namespace, workdir: str, progress: Callable[[str], None]
) -> dict[str, Any]:
    """``memory_run`` ``--memory-repeats`` times, each in a fresh process and file: the run
    whose growth is the median (the allocator's and DuckDB's timing make one run vary by tens
    of MB), with every run's growth under ``growths``."""
    runs = []
    context = multiprocessing.get_context("spawn")
    for repeat in range(args.memory_repeats):
        progress(
            f"memory check {repeat + 1}/{args.memory_repeats}: "
            f"tracing {args.memory_events:,} events into DuckDB..."
        )
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            name = f"memory-{repeat}.duckdb"
            runs.append(
                pool.submit(memory_run, args.memory_events, args.batch_size, workdir, name).result()
            )
    runs.sort(key=growth_bytes)
    chosen = dict(runs[(len(runs) - 1) // 2])  # the lower median of an even count
    chosen["growths"] = [growth_bytes(run) for run in runs]
    return chosen


# ---------------------------------------------------------------------------- report


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def verdict(ok: bool) -> str:
    return "MET" if ok else "MISSED"


def print_machine(args: argparse.Namespace) -> None:
    print("eventstore tracing benchmark")
    print(
        f"machine: {os.cpu_count()} CPUs ({cpu_model()}), {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()} ({sys.implementation.name})"
    )
    print(
        f"versions: eventstore {eventstore.__version__} ({RECORDER_NAME} recorder in this "
        f"process), duckdb {duckdb.__version__}, pyarrow {pa.__version__}, opentelemetry-sdk "
        f"{package_version('opentelemetry-sdk')}, viztracer {package_version('viztracer')}, "
        f"numpy {np.__version__}, orjson {orjson.__version__}"
    )
    print(
        f"workload: {args.events:,} BAR events per variant per repeat, {args.repeats} repeats "
        f"(interleaved, rotating order), batch size {args.batch_size:,}, 1 handler per event, "
        "gc enabled"
    )
    print(f"load average at start: {load_average()} (other processes inflate wall time)")
    print()


def print_table(
    samples: dict[str, list[Sample]], args: argparse.Namespace, child_recorder: str
) -> dict[str, float]:
    med = {v: median([s.us_per_event for s in samples[v]]) for v in VARIANTS}
    over = {
        v: median(
            [
                s.us_per_event - b.us_per_event
                for s, b in zip(samples[v], samples[BASELINE[v]], strict=True)
            ]
        )
        for v in OVERHEAD
    }
    cpu = {v: median([s.cpu_us_per_event for s in samples[v]]) for v in VARIANTS}
    header = (
        f"{'variant':<38}{'µs/event':>10}{'min':>8}{'max':>8}"
        f"{'x untraced':>12}{'overhead µs':>13}{'events/s':>12}{'cpu µs':>9}"
    )
    print(f"timings: median of {args.repeats} repeats of {args.events:,} events")
    print(header)
    print("-" * len(header))
    for v in VARIANTS:
        values = [s.us_per_event for s in samples[v]]
        overhead = f"{over[v]:>13.2f}" if v in over else f"{'':>13}"
        ratio = f"{med[v] / med[BASELINE[v]]:>11.2f}x" if v != "raw" else f"{'':>12}"
        print(
            f"{LABELS[v]:<38}{med[v]:>10.2f}{min(values):>8.2f}{max(values):>8.2f}"
            f"{ratio}{overhead}{1e6 / med[v]:>12,.0f}{cpu[v]:>9.2f}"
        )
    print()

    writer_rate = median(
        [s.notes["write_rows"] / s.notes["write_seconds"] for s in samples["duckdb"]]
    )
    exported = min(s.notes["exported"] for s in samples["otel"])
    print(
        f"notes: recorders: 1-3 {RECORDER_NAME} (this process), 1p-3p {child_recorder} (a "
        "child process started with EVENTSTORE_PURE_PYTHON=1)."
    )
    print(
        "       'overhead' = median over repeats of (variant - untraced bus of the same "
        "process) in the same repeat; variant 6 has no bus, its µs are per event inserted."
    )
    print(
        "       'cpu µs' = median process CPU time (all threads) per event: less sensitive than "
        "wall time to other load on the machine, which the targets are not judged on."
    )
    print(
        f"       variant 3, inside the store writer's write_batch + end_run only: "
        f"{writer_rate:,.0f} events/s (each with its delivery row)."
    )
    if exported < args.events:
        print(
            f"       OpenTelemetry exported as few as {exported:,.0f} of {args.events:,} spans "
            "(BatchSpanProcessor drops when its queue is full): flatters OpenTelemetry."
        )
    else:
        print(f"       OpenTelemetry exported all {args.events:,} spans in every repeat.")
    for v in ("viztracer", "viz_instant"):
        recorded = median([s.notes["recorded"] for s in samples[v]]) / args.events
        print(f"       {LABELS[v].strip()}: {recorded:.1f} records per event kept in memory.")
    print()
    return {
        "hot": over["buffer"],
        "duckdb": over["duckdb"],
        "pure_hot": over["pure_buffer"],
        "pure_duckdb": over["pure_duckdb"],
        "otel": over["otel"],
        "viz": min(over["viztracer"], over["viz_instant"]),
        "raw_rate": 1e6 / med["raw"],
        "e2e_rate": 1e6 / med["duckdb"],
        "writer_rate": writer_rate,
    }


def print_targets(figures: dict[str, float], memory: dict[str, Any] | None) -> None:
    mb = 1024 * 1024
    otel_factor = figures["otel"] / figures["duckdb"] if figures["duckdb"] > 0 else float("inf")
    e2e_share = figures["e2e_rate"] / figures["raw_rate"]
    writer_share = figures["writer_rate"] / figures["raw_rate"]
    rows: list[tuple[str, str, str, str]] = [
        (
            "hot path: overhead of 2 over 1",
            f"{figures['hot']:.2f} µs/event",
            f"<= {TARGET_HOT_PATH_US} µs",
            verdict(figures["hot"] <= TARGET_HOT_PATH_US),
        ),
        (
            "all in, DuckDB writes: overhead of 3 over 1",
            f"{figures['duckdb']:.2f} µs/event",
            f"<= {TARGET_DUCKDB_US} µs",
            verdict(figures["duckdb"] <= TARGET_DUCKDB_US),
        ),
        (
            "cheaper than OTel: (4-1) / (3-1)",
            f"{otel_factor:.1f}x",
            f">= {TARGET_OTEL_FACTOR:.0f}x",
            verdict(otel_factor >= TARGET_OTEL_FACTOR),
        ),
        (
            "vs VizTracer: 3-1 vs the cheaper of 5-1, 5i-1",
            f"{figures['duckdb']:.2f} vs {figures['viz']:.2f} µs",
            "ours <= theirs",
            verdict(figures["duckdb"] <= figures["viz"]),
        ),
        (
            "ingest, all in: events/s of 3 / of 6",
            f"{e2e_share:.0%} ({figures['e2e_rate'] / 1e6:.2f}M / "
            f"{figures['raw_rate'] / 1e6:.2f}M)",
            f">= {TARGET_INGEST_SHARE:.0%}",
            verdict(e2e_share >= TARGET_INGEST_SHARE),
        ),
        (
            "ingest, writer only: events/s / of 6",
            f"{writer_share:.0%} ({figures['writer_rate'] / 1e6:.2f}M / "
            f"{figures['raw_rate'] / 1e6:.2f}M)",
            f">= {TARGET_INGEST_SHARE:.0%}",
            verdict(writer_share >= TARGET_INGEST_SHARE),
        ),
        (
            "pure-Python hot path: 2p over 1p",
            f"{figures['pure_hot']:.2f} µs/event",
            f"<= {TARGET_PURE_HOT_PATH_US} µs",
            verdict(figures["pure_hot"] <= TARGET_PURE_HOT_PATH_US),
        ),
        (
            "pure-Python all in: 3p over 1p",
            f"{figures['pure_duckdb']:.2f} µs/event",
            f"<= {TARGET_PURE_DUCKDB_US} µs",
            verdict(figures["pure_duckdb"] <= TARGET_PURE_DUCKDB_US),
        ),
    ]
    if memory is not None:
        growth = growth_bytes(memory) / mb
        rows.append(
            (
                f"memory: RSS growth tracing {memory['events']:,.0f} events (median)",
                f"{growth:+.1f} MB",
                f"<= {TARGET_RSS_GROWTH_MB:.0f} MB",
                verdict(growth <= TARGET_RSS_GROWTH_MB),
            )
        )
    headings = ("target (issue 9)", "measured", "goal", "")
    widths = [max(len(heading), *(len(r[i]) for r in rows)) for i, heading in enumerate(headings)]
    print("targets")
    print(f"{headings[0]:<{widths[0]}}  {headings[1]:<{widths[1]}}  {headings[2]:<{widths[2]}}")
    print("-" * (sum(widths) + 6))
    for name, measured, goal, result in rows:
        print(f"{name:<{widths[0]}}  {measured:<{widths[1]}}  {goal:<{widths[2]}}  {result}")
    print()


def print_memory(memory: dict[str, Any]) -> None:
    mb = 1024 * 1024
    print(
        f"memory: {memory['events']:,.0f} events traced into a DuckDB file in a fresh process "
        f"({memory['recorder']} recorder, {memory['seconds']:.1f} s, {memory['stored']:,.0f} "
        f"rows stored); RSS measured after a {memory['warmup']:,.0f}-event warm-up (flushed), "
        "after every 100,000 events, and at the end (flushed)"
    )
    print(
        f"  RSS after warm-up {memory['warm_rss'] / mb:,.1f} MB, "
        f"peak {memory['peak_rss'] / mb:,.1f} MB, at the end {memory['end_rss'] / mb:,.1f} MB, "
        f"after close {memory['closed_rss'] / mb:,.1f} MB"
    )
    print(
        f"  of which DuckDB's buffer manager (duckdb_memory()): {memory['warm_duck'] / mb:,.1f} MB"
        f" after warm-up, {memory['end_duck'] / mb:,.1f} MB at the end (largest: "
        f"{memory['duck_tags']}; memory_limit {memory['duck_limit']})"
    )
    growth = growth_bytes(memory)
    duck_growth = memory["end_duck"] - memory["warm_duck"]
    print(
        f"  growth {growth / mb:+,.1f} MB, of which DuckDB buffers {duck_growth / mb:+,.1f} MB, "
        f"the rest (Python, Arrow, allocator) {(growth - duck_growth) / mb:+,.1f} MB"
    )
    growths = ", ".join(f"{g / mb:+,.1f}" for g in memory["growths"])
    print(f"  growth of each run, in MB: {growths} (the median run is shown above)")
    print()


# ---------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=" ".join((__doc__ or "").split("\n\n")[0].split()))
    parser.add_argument("--events", type=int, default=100_000, help="events per variant per repeat")
    parser.add_argument("--repeats", type=int, default=5, help="repeats (the median is reported)")
    parser.add_argument("--batch-size", type=int, default=10_000, help="tracer batch size")
    parser.add_argument(
        "--memory-events", type=int, default=5_000_000, help="events traced in the memory check"
    )
    parser.add_argument(
        "--memory-repeats", type=int, default=3, help="memory checks (the median is reported)"
    )
    parser.add_argument("--skip-memory", action="store_true", help="skip the memory check")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    args = parser.parse_args(argv)
    if min(args.events, args.repeats, args.batch_size, args.memory_repeats) < 1:
        parser.error("--events, --repeats, --batch-size and --memory-repeats must be >= 1")
    if args.memory_events < 10:
        parser.error("--memory-events must be >= 10")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)

    def progress(message: str) -> None:
        if not args.quiet:
            print(message, file=sys.stderr, flush=True)

    print_machine(args)
    feed = Feed.make(args.events)
    samples: dict[str, list[Sample]] = {v: [] for v in VARIANTS}
    child_recorder = "unknown"
    # One slot of the rotation runs the child's three variants (its own rotation inside).
    slots = (*LOCAL, "pure")
    with (
        tempfile.TemporaryDirectory(prefix="bench-tracing-") as workdir,
        pure_python_child() as child,
    ):
        runner = Runner(feed, args.batch_size, Path(workdir))
        warm = Runner(Feed.make(min(args.events, 20_000)), args.batch_size, Path(workdir))
        progress("warming up...")
        for variant in LOCAL:
            warm.run(variant)
        for repeat in range(args.repeats):
            order = slots[repeat % len(slots) :] + slots[: repeat % len(slots)]
            for slot in order:
                if slot != "pure":
                    samples[slot].append(runner.run(slot))
                    continue
                turn = repeat % len(CHILD)
                child_order = CHILD[turn:] + CHILD[:turn]
                child_recorder, pure = child.submit(
                    child_repeat, args.events, args.batch_size, workdir, child_order
                ).result()
                for variant, sample in pure.items():
                    samples[f"pure_{variant}"].append(sample)
            progress(
                f"repeat {repeat + 1}/{args.repeats}: "
                + ", ".join(f"{v} {samples[v][-1].us_per_event:.2f}" for v in VARIANTS)
                + " µs/event"
            )
        memory: dict[str, Any] | None = None
        if not args.skip_memory:
            memory = median_memory_run(args, workdir, progress)

    figures = print_table(samples, args, child_recorder)
    if memory is not None:
        print_memory(memory)
    print_targets(figures, memory)
    print(f"load average at end: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
