"""Scale-out figures, side by side in one run: how fast each backend takes a run's events, what
a sweep gains from a second worker and what Dask costs over local processes, what sampling
saves on disk, and what a long backtest costs in memory and start-up time.

    python benchmarks/bench_scale.py                       # everything, PostgreSQL if reachable
    python benchmarks/bench_scale.py --quick               # smaller sizes, a first look
    python benchmarks/bench_scale.py --pg-url postgresql+psycopg://me@localhost:5432/bench

1. **Writes.** The demo backtest (``config/multi_strategy_test.yaml``) is traced once into
   memory; the very same drained batches are then handed to each backend's batch writer, so
   only the writing is timed: DuckDB (segment files, then bulk loads), PostgreSQL (``COPY``,
   one transaction per batch), and the run exported from DuckDB to a Parquet dataset
   (``export --parquet``: read from DuckDB, written as Parquet). PostgreSQL is skipped with a
   note when no server is given (``--pg-url``, else ``EVENTSTORE_TEST_PG_URL``).
2. **Sweep.** 8 backtests (seeds 1-8 of the demo config) with ``run_sweep``: 1 local worker,
   2 local workers, and 2 workers of a Dask ``LocalCluster`` (started inside the timing, as
   ``eventstore sweep --executor dask`` does). Targets (issue 10): 2 workers >= 1.7 x faster
   than 1; Dask <= 15 % slower than local.
3. **Sampling.** The same backtest into fresh DuckDB files, whole and with tail sampling
   (``--sample 0.1``, ORDER and FILL kept): bytes on disk per published event.
4. **Long backtests.** ``feed_scale.measure``: peak RSS and time to the first event at
   100 000 and 2 000 000 bars per symbol (each run stopped after ``--seconds``).

Wall times are medians of ``--repeats``; the machine is shared, so the load average is printed.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

from eventstore import Sampling, open_store
from eventstore.backtest import BacktestContainer, load_config, load_market_data
from eventstore.store.parquet import export_runs
from eventstore.sweep import run_sweep
from eventstore.tracing.writer import InMemoryWriter, RunStats

sys.path.insert(0, str(Path(__file__).resolve().parent))
import feed_scale  # a sibling script

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "config" / "multi_strategy_test.yaml"
SWEEP_SPEEDUP_TARGET = 1.7
DASK_OVERHEAD_TARGET = 0.15


def median_time(action: Callable[[int], object], repeats: int) -> float:
    """Median wall seconds of ``action(repeat)`` over ``repeats`` calls."""
    times = []
    for repeat in range(repeats):
        started = time.perf_counter()
        action(repeat)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


class Capture:
    """A writer source that keeps the drained batches of one traced run in memory."""

    def __init__(self) -> None:
        self.writer = InMemoryWriter()

    def batch_writer(self) -> InMemoryWriter:
        return self.writer


def recorded_run(bars: int) -> tuple[InMemoryWriter, int]:
    config = load_config(CONFIG).model_copy(update={"bars": bars})
    capture = Capture()
    result = BacktestContainer(config, capture, market_data=load_market_data(config)).run()
    return capture.writer, result.event_count


def replay(recorded: InMemoryWriter, url: str, copy: int) -> None:
    """Write the recorded run into the store at ``url`` as a new run (its own id and tag)."""
    (info,) = recorded.runs.values()
    tag = f"{info.tag}{copy}"
    run_id = info.run_id.replace(info.tag, tag)
    status, error, stats = recorded.endings[info.run_id]
    with open_store(url) as store:
        writer = store.batch_writer()
        try:
            writer.begin_run(dataclasses.replace(info, run_id=run_id, tag=tag))
            for batch in recorded.batches:
                writer.write_batch(dataclasses.replace(batch, run_id=run_id, tag=tag))
            writer.end_run(run_id, status, error, RunStats(stats.event_count))
        finally:
            writer.close()


@contextmanager
def scratch_database(url: str) -> Iterator[str]:
    """A fresh database on the server of ``url`` (dropped after), so the benchmark's runs never
    land in a database someone uses."""
    import psycopg

    server = sa.make_url(url)
    name = f"eventstore_bench_{os.getpid()}"
    admin = server.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def bench_writes(bars: int, repeats: int, pg_url: str | None, folder: Path) -> None:
    recorded, events = recorded_run(bars)
    print(f"\n1. writes: one demo run of {events:,} events, {len(recorded.batches)} batches")
    rows: list[tuple[str, float | None, str]] = []
    db = folder / "writes.duckdb"
    rows.append(
        (
            "DuckDB (segments + bulk load)",
            median_time(lambda i: replay(recorded, str(db), i), repeats),
            "",
        )
    )
    if pg_url:
        with scratch_database(pg_url) as scratch:
            seconds = median_time(lambda i: replay(recorded, scratch, i), repeats)
        rows.append(("PostgreSQL (COPY)", seconds, ""))
    else:
        rows.append(("PostgreSQL (COPY)", None, "skipped: no --pg-url / EVENTSTORE_TEST_PG_URL"))
    with open_store(db, read_only=True) as store:
        (run_id,) = [
            r for (r,) in store.cursor().execute("SELECT run_id FROM runs LIMIT 1").fetchall()
        ]

        def export(repeat: int) -> None:
            export_runs(store, folder / f"lake{repeat}", [run_id])

        rows.append(("Parquet (export from DuckDB)", median_time(export, repeats), ""))
    print(f"{'backend':<32} {'seconds':>8} {'events/s':>11}")
    for label, seconds, note in rows:
        if seconds is None:
            print(f"{label:<32} {'-':>8} {'-':>11}  {note}")
        else:
            print(f"{label:<32} {seconds:>8.3f} {events / seconds:>11,.0f}")


def sweep_file(folder: Path, bars: int) -> Path:
    path = folder / "sweep.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "bench",
                "backtest": str(CONFIG),
                "grid": {"seed": list(range(1, 9)), "bars": [bars]},
            }
        )
    )
    return path


def bench_sweep(bars: int, repeats: int, folder: Path) -> None:
    config = sweep_file(folder, bars)
    print(f"\n2. sweep: 8 demo backtests of {bars:,} steps x 4 symbols, medians of {repeats}")
    times: dict[str, float] = {}
    for label, workers, executor in (
        ("local, 1 worker", 1, "local"),
        ("local, 2 workers", 2, "local"),
        ("dask LocalCluster, 2 workers", 2, "dask"),
    ):

        def sweep(repeat: int, workers: int = workers, executor: Any = executor) -> None:
            db = folder / f"sweep-{executor}-{workers}-{repeat}.duckdb"
            result = run_sweep(config, workers, executor, db)
            failed = [r for r in result.runs if r.status != "completed"]
            assert not failed, f"sweep runs did not complete: {failed}"

        times[label] = median_time(sweep, repeats)
    speedup = times["local, 1 worker"] / times["local, 2 workers"]
    overhead = times["dask LocalCluster, 2 workers"] / times["local, 2 workers"] - 1
    print(f"{'executor':<32} {'seconds':>8}")
    for label, seconds in times.items():
        print(f"{label:<32} {seconds:>8.2f}")
    met = "MET" if speedup >= SWEEP_SPEEDUP_TARGET else "MISSED"
    print(f"2 workers vs 1: {speedup:.2f}x faster (target >= {SWEEP_SPEEDUP_TARGET}x): {met}")
    met = "MET" if overhead <= DASK_OVERHEAD_TARGET else "MISSED"
    print(f"dask vs local: {overhead:+.0%} (target <= +{DASK_OVERHEAD_TARGET:.0%}): {met}")


def bench_sampling(bars: int, folder: Path) -> None:
    config = load_config(CONFIG).model_copy(update={"bars": bars})
    data = load_market_data(config)
    print(f"\n3. sampling: demo backtest, {bars:,} steps x 4 symbols, one DuckDB file each")
    print(f"{'run':<28} {'published':>10} {'stored':>10} {'bytes':>12} {'B/published':>12}")
    for label, sampling in (
        ("whole", None),
        ("sampled 0.1 (ORDER, FILL)", Sampling(fraction=0.1)),
    ):
        db = folder / f"sampling-{'whole' if sampling is None else 'sampled'}.duckdb"
        with open_store(db) as store:
            result = BacktestContainer(config, store, market_data=data, sampling=sampling).run()
            stored = store.fetch_records(
                "SELECT count(*) AS n FROM events WHERE run_id = :run_id",
                {"run_id": result.correlation_id},
            )[0]["n"]
            store.cursor().execute("CHECKPOINT")
        published = result.event_count
        size = db.stat().st_size
        print(f"{label:<28} {published:>10,} {stored:>10,} {size:>12,} {size / published:>12.1f}")


def bench_feed(sizes: tuple[int, ...], seconds: float) -> None:
    print(f"\n4. long backtests: traced demo runs, each stopped after {seconds:.0f} s")
    print(f"{'bars/symbol':>12} {'first event s':>14} {'peak RSS MB':>12} {'bars/s':>10}")
    for bars in sizes:
        row = feed_scale.measure(bars, seconds)
        print(
            f"{bars:>12,} {row['first_event_s']:>14.2f} {row['peak_rss_mb']:>12.0f} "
            f"{row['bars_per_s']:>10,.0f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=" ".join((__doc__ or "").split("\n\n")[0].split()))
    parser.add_argument("--pg-url", default=os.environ.get("EVENTSTORE_TEST_PG_URL"))
    parser.add_argument("--repeats", type=int, default=3, help="runs of each timing (median)")
    parser.add_argument("--write-bars", type=int, default=25_000, help="steps of the write run")
    parser.add_argument("--sweep-bars", type=int, default=10_000, help="steps of each sweep run")
    parser.add_argument("--seconds", type=float, default=30.0, help="long-backtest window")
    parser.add_argument("--quick", action="store_true", help="small sizes, 1 repeat")
    parser.add_argument(
        "--skip", nargs="*", default=[], choices=["writes", "sweep", "sampling", "feed"]
    )
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.write_bars, args.sweep_bars, args.seconds = 1, 5_000, 1_000, 10.0
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average at start: {load} ({os.cpu_count()} cores; others inflate wall time)")
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        folder = Path(tmp)
        if "writes" not in args.skip:
            bench_writes(args.write_bars, args.repeats, args.pg_url, folder)
        if "sweep" not in args.skip:
            bench_sweep(args.sweep_bars, args.repeats, folder)
        if "sampling" not in args.skip:
            bench_sampling(args.write_bars, folder)
    if "feed" not in args.skip:
        bench_feed(feed_scale.SIZES, args.seconds)


if __name__ == "__main__":
    main()
