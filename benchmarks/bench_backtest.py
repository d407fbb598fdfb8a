"""What tracing costs a real backtest: the multi-strategy config, traced and untraced, side by
side in one process.

    python benchmarks/bench_backtest.py                      # 100 000 bars, 3 repeats
    python benchmarks/bench_backtest.py --bars 20000 --repeats 5

"Bars" are BAR events: one per symbol per time step, so 100 000 bars of a 4-symbol config are
25 000 steps. Each repeat runs untraced, then traced into a fresh DuckDB file; the timed part is
the event loop (traced: until the run is closed and every event is stored), not data generation
or setup. Medians of the repeats are reported. Targets: >= 50 000 bars/s untraced, traced wall
time <= 1.10 x untraced.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from eventstore import open_store
from eventstore.backtest import BacktestConfig, BacktestContainer, load_config, load_market_data

REPO = Path(__file__).resolve().parents[1]
UNTRACED_TARGET_BARS_PER_S = 50_000
TRACED_RATIO_TARGET = 1.10


def timed_run(config: BacktestConfig, db: Path | None) -> tuple[float, int, int]:
    """(wall seconds, bars, events) of one run; traced into ``db`` unless it is None."""
    data = load_market_data(config)
    if db is None:
        backtest = BacktestContainer(config, trace=False, market_data=data)
        start = time.perf_counter()
        result = backtest.run()
        return time.perf_counter() - start, result.bars, result.event_count
    with open_store(db) as store:
        backtest = BacktestContainer(config, store, market_data=data)
        start = time.perf_counter()
        result = backtest.run()  # closes the run: the final batch is written inside the timing
        elapsed = time.perf_counter() - start
        stored = store.cursor().execute(
            "SELECT count(*) FROM events WHERE run_id = ?", [result.correlation_id]
        )
        row = stored.fetchone()
        assert row is not None and row[0] == result.event_count, "events missing from the store"
    return elapsed, result.bars, result.event_count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--config", default=str(REPO / "config" / "multi_strategy_test.yaml"))
    parser.add_argument("--bars", type=int, default=100_000, help="BAR events in total")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each mode (median)")
    args = parser.parse_args()
    base = load_config(args.config)
    symbols = len(base.data.symbols)
    steps = max(1, args.bars // symbols)
    config = base.model_copy(update={"bars": steps})
    print(
        f"{config.name}: {steps * symbols:,} bars ({steps:,} steps x {symbols} symbols), "
        f"{len(config.strategies)} strategies, {args.repeats} repeats, medians"
    )

    walls: dict[str, list[float]] = {"untraced": [], "traced": []}
    counts: dict[str, tuple[int, int]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        timed_run(config.model_copy(update={"bars": min(steps, 2_000)}), None)  # warm-up
        for repeat in range(args.repeats):
            for mode in ("untraced", "traced"):
                db = None if mode == "untraced" else Path(tmp) / f"run{repeat}.duckdb"
                wall, bars, events = timed_run(config, db)
                walls[mode].append(wall)
                counts[mode] = (bars, events)
                print(f"  repeat {repeat + 1} {mode:>8}: {wall:7.3f} s")

    base_wall = statistics.median(walls["untraced"])
    header = f"{'mode':<9} {'bars':>9} {'events':>9} {'wall s':>8} {'bars/s':>10} "
    header += f"{'events/s':>10} {'vs untraced':>11}"
    print()
    print(header)
    print("-" * len(header))
    for mode, wall_list in walls.items():
        wall = statistics.median(wall_list)
        bars, events = counts[mode]
        print(
            f"{mode:<9} {bars:>9,} {events:>9,} {wall:>8.3f} {bars / wall:>10,.0f} "
            f"{events / wall:>10,.0f} {wall / base_wall:>10.2f}x"
        )
    untraced_rate = counts["untraced"][0] / base_wall
    ratio = statistics.median(walls["traced"]) / base_wall
    print()
    print(
        f"untraced {untraced_rate:,.0f} bars/s (target >= {UNTRACED_TARGET_BARS_PER_S:,}): "
        f"{'met' if untraced_rate >= UNTRACED_TARGET_BARS_PER_S else 'NOT met'}"
    )
    print(
        f"traced/untraced {ratio:.2f}x (target <= {TRACED_RATIO_TARGET:.2f}x): "
        f"{'met' if ratio <= TRACED_RATIO_TARGET else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
