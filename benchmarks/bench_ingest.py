"""Ingest: what the DuckDB writer sustains, as a share of one raw bulk Arrow insert of the same
columns (issue 9, point 4: target ≥ 70 %), and what the segment files and their fsyncs cost.

Run from the repository root::

    python benchmarks/bench_ingest.py                       # 1 000 000 events, 5 repeats
    python benchmarks/bench_ingest.py --events 200000 --repeats 3

The tracer first records ``--events`` BAR events (one handler each, so every event has one
delivery) into memory: the batches (``--batch-size`` events each) a run would hand its writer.
Then each variant stores those same batches into a fresh database file, interleaved within each
repeat; the time is the writer's alone (``begin_run``, every ``write_batch``, ``end_run`` and
``close``), with DuckDB's memory capped as while tracing:

- *raw bulk insert*: every batch's tables concatenated and inserted in one transaction (the
  ceiling: what DuckDB does with the same Arrow columns and nothing else);
- *per-batch transactions*: ``DuckDBBatchWriter``, one transaction per batch;
- *bulk writer*: ``BulkDuckDBWriter`` (the store's writer), segment files loaded by its
  loading thread while the batches come and at the end, with its fsync policy (at most one
  fsync per second), and with fsync after every batch and never, to show what it costs;
- *segments only*: appending to segment files, no database (what ``write_batch`` costs between
  loads).

Ingest share = raw time / variant time (the variant's rate as a share of the raw rate).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa

from eventstore import Event, EventTracer, TracedEventBus, open_store
from eventstore.store.bulk_writer import BulkDuckDBWriter
from eventstore.store.duckdb_writer import TRACING_MEMORY_LIMIT, DuckDBBatchWriter, insert_tables
from eventstore.store.segments import SegmentWriter, segments_root
from eventstore.tracing.writer import InMemoryWriter, RunInfo, RunStats, TraceBatch

TARGET_SHARE = 0.70


def record(events: int, batch_size: int) -> tuple[RunInfo, list[TraceBatch]]:
    """The batches a traced run of ``events`` BARs hands its writer."""
    memory = InMemoryWriter()
    bus = TracedEventBus("ingest")
    bus.subscribe("BAR", lambda event: None)
    start = datetime(2024, 1, 2, 9, 30)
    symbols = ("SPY", "QQQ", "IWM", "TLT")
    with EventTracer(store=memory, batch_size=batch_size, background=False) as tracer:
        bus.set_tracer(tracer)
        for i in range(events):
            payload = {"symbol": symbols[i % 4], "close": round(100 + (i % 997) * 0.01, 2)}
            bus.publish(Event("BAR", start + timedelta(minutes=i), payload), source="feed")
    (run,) = memory.runs.values()
    return run, memory.batches


def fresh_store(work: Path, name: str) -> Path:
    db = work / f"{name}.duckdb"
    for path in work.glob(f"{name}.duckdb*"):
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    open_store(db).close()
    return db


def time_raw(work: Path, run: RunInfo, batches: list[TraceBatch]) -> float:
    db = fresh_store(work, "raw")
    with open_store(db) as store:
        con = store.cursor()
        writer = DuckDBBatchWriter(con)
        writer.begin_run(run)  # numbers the run and caps memory, as the writers do
        assert writer.run_no is not None
        start = time.perf_counter()
        insert_tables(
            con,
            writer.run_no,
            names=batches[-1].names,
            events=pa.concat_tables([b.events for b in batches]),
            edges=pa.concat_tables([b.edges for b in batches]),
            deliveries=pa.concat_tables([b.deliveries for b in batches]),
            end_updates=pa.concat_tables([b.end_updates for b in batches]),
            commit=True,
        )
        seconds = time.perf_counter() - start
        writer.close()
    return seconds


def time_writer(
    work: Path, name: str, make: Callable[..., object], run: RunInfo, batches: list[TraceBatch]
) -> float:
    db = fresh_store(work, name)
    with open_store(db) as store:
        start = time.perf_counter()
        writer = make(store.cursor(), segments_root(db))
        writer.begin_run(run)  # type: ignore[attr-defined]
        for batch in batches:
            writer.write_batch(batch)  # type: ignore[attr-defined]
        count = sum(b.num_events for b in batches)
        writer.end_run(run.run_id, "completed", None, RunStats(count))  # type: ignore[attr-defined]
        writer.close()  # type: ignore[attr-defined]
        seconds = time.perf_counter() - start
        (stored,) = store.cursor().execute("SELECT count(*) FROM run_events").fetchone() or (0,)
    if stored != count:
        raise SystemExit(f"{name}: stored {stored} of {count} events")
    return seconds


def time_segments(work: Path, run: RunInfo, batches: list[TraceBatch], interval: float) -> float:
    root = work / "only.segments"
    shutil.rmtree(root, ignore_errors=True)
    start = time.perf_counter()
    segments = SegmentWriter(root, run.run_id, interval)
    for batch in batches:
        segments.append(batch)
    segments.close(sync=interval < float("inf"))
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=" ".join((__doc__ or "").split("\n\n")[0].split()))
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    load_start = os.getloadavg()[0]
    run, batches = record(args.events, args.batch_size)
    n = sum(b.num_events for b in batches)
    inf = float("inf")

    def bulk(interval: float) -> Callable[..., object]:
        return lambda con, root: BulkDuckDBWriter(con, root, fsync_interval=interval)

    variants: dict[str, Callable[[Path], float]] = {
        "raw bulk insert (one transaction)": lambda w: time_raw(w, run, batches),
        "per-batch transactions": lambda w: time_writer(
            w, "batch", lambda con, _root: DuckDBBatchWriter(con), run, batches
        ),
        "bulk writer, fsync ≤ 1/s (default)": lambda w: time_writer(
            w, "bulk", bulk(1.0), run, batches
        ),
        "bulk writer, fsync every batch": lambda w: time_writer(
            w, "bulk0", bulk(0.0), run, batches
        ),
        "bulk writer, never fsync": lambda w: time_writer(w, "bulkinf", bulk(inf), run, batches),
        "segments only, fsync ≤ 1/s": lambda w: time_segments(w, run, batches, 1.0),
        "segments only, fsync every batch": lambda w: time_segments(w, run, batches, 0.0),
        "segments only, never fsync": lambda w: time_segments(w, run, batches, inf),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        work = Path(tmp)
        names = list(variants)
        for repeat in range(args.repeats):
            for name in names[repeat % len(names) :] + names[: repeat % len(names)]:
                times[name].append(variants[name](work))
            print(f"repeat {repeat + 1}/{args.repeats} done", file=sys.stderr)
    raw = statistics.median(times[names[0]])
    print(
        f"ingest of {n:,} events in {len(batches)} batches of {args.batch_size:,} "
        f"(+ {n:,} deliveries), DuckDB memory_limit {TRACING_MEMORY_LIMIT}, "
        f"medians of {args.repeats}; load average {load_start:.1f} at start, "
        f"{os.getloadavg()[0]:.1f} at end ({os.cpu_count()} CPUs)"
    )
    print(f"{'variant':<38} {'µs/event':>9} {'M events/s':>11} {'share of raw':>13}")
    for name in names:
        seconds = statistics.median(times[name])
        print(
            f"{name:<38} {seconds / n * 1e6:>9.3f} {n / seconds / 1e6:>11.2f} "
            f"{raw / seconds:>12.0%}"
        )
    share = raw / statistics.median(times["bulk writer, fsync ≤ 1/s (default)"])
    verdict = "MET" if share >= TARGET_SHARE else "MISSED"
    print(f"bulk writer ingest {share:.1%} of raw (target ≥ {TARGET_SHARE:.0%}): {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
