"""What tracing costs a real backtest: the multi-strategy config, traced and untraced, side by
side in one run, with the compiled recorder and with the pure-Python fallback.

    python benchmarks/bench_backtest.py                      # 100 000 bars, 3 repeats
    python benchmarks/bench_backtest.py --bars 20000 --repeats 5

"Bars" are BAR events: one per symbol per time step, so 100 000 bars of a 4-symbol config are
25 000 steps. Each repeat runs untraced, traced with no store (recording alone: the recorder's
buffers, drained and dropped), then traced into a fresh DuckDB file; the timed part is the
event loop (traced: until the run is closed and every event is stored), not data generation or
setup; a second traced ratio counts closing the store too (a DuckDB checkpoint). The recorder
is chosen once per process, at import, so the pure-Python rows run in a child process started
with ``EVENTSTORE_PURE_PYTHON=1`` (untraced and traced again, so its ratio is paired with its
own untraced run); the parent and the child take turns inside every repeat. Medians of the
repeats are reported, wall time and process CPU time (every thread, the writer's included:
other load on the shared machine inflates it less than wall time).

Targets (issue 9, "Performance"): traced <= 1.5 x untraced with the compiled recorder, and
untraced no slower than before the issue (233 000 bars/s on this machine type, quiet).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from eventstore import open_store
from eventstore.backtest import BacktestConfig, BacktestContainer, load_config, load_market_data
from eventstore.tracing.implementation import RECORDER_NAME

REPO = Path(__file__).resolve().parents[1]
UNTRACED_TARGET_BARS_PER_S = 233_000
TRACED_RATIO_TARGET = 1.5
MODES = ("untraced", "memory", "traced")  # memory: traced with no store (recording alone)


@dataclass(frozen=True)
class Timing:
    wall: float
    cpu: float
    bars: int
    events: int
    closed: float = 0.0
    """Traced into a store: wall time until the store is closed too (DuckDB checkpoints what
    the run's last load wrote to its log): what ``eventstore run`` pays before it exits."""


def timed_run(config: BacktestConfig, db: Path | None, *, trace: bool = True) -> Timing:
    """One run: untraced, traced in memory only (``db`` None), or traced into ``db``."""
    data = load_market_data(config).collect()  # generated before the timing, as always
    if db is None:
        backtest = BacktestContainer(config, trace=trace, market_data=data)
        cpu, start = time.process_time(), time.perf_counter()
        result = backtest.run()
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        return Timing(wall, cpu, result.bars, result.event_count)
    with open_store(db) as store:
        backtest = BacktestContainer(config, store, market_data=data)
        cpu, start = time.process_time(), time.perf_counter()
        result = backtest.run()  # closes the run: the final batch is written inside the timing
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    closed = time.perf_counter() - start
    with open_store(db, read_only=True) as store:
        cursor = store.cursor()
        rows = cursor.execute(
            "SELECT count(*) FROM events WHERE run_id = ?", [result.correlation_id]
        ).fetchall()
        cursor.close()
        assert rows[0][0] == result.event_count, "events missing from the store"
    return Timing(wall, cpu, result.bars, result.event_count, closed)


def one_repeat(config: BacktestConfig, workdir: str, repeat: int) -> tuple[str, dict[str, Timing]]:
    """Untraced then traced, in this process; the recorder name says which one it used."""
    timings: dict[str, Timing] = {}
    for mode in MODES:
        db = Path(workdir) / f"run-{os.getpid()}-{repeat}.duckdb" if mode == "traced" else None
        timings[mode] = timed_run(config, db, trace=mode != "untraced")
    return RECORDER_NAME, timings


def warm_up(config: BacktestConfig) -> str:
    small = config.model_copy(update={"bars": min(config.bars or 2_000, 2_000)})
    timed_run(small, None, trace=False)
    timed_run(small, None, trace=True)
    return RECORDER_NAME


@contextmanager
def pure_python_child() -> Iterator[ProcessPoolExecutor]:
    """A worker process that imports eventstore with ``EVENTSTORE_PURE_PYTHON=1``."""
    saved = os.environ.get("EVENTSTORE_PURE_PYTHON")
    os.environ["EVENTSTORE_PURE_PYTHON"] = "1"
    try:
        pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        pool.submit(os.getpid).result()  # the worker starts now, with the variable set
    finally:
        if saved is None:
            del os.environ["EVENTSTORE_PURE_PYTHON"]
        else:
            os.environ["EVENTSTORE_PURE_PYTHON"] = saved
    with pool:
        yield pool


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=" ".join((__doc__ or "").split("\n\n")[0].split()))
    parser.add_argument("--config", default=str(REPO / "config" / "multi_strategy_test.yaml"))
    parser.add_argument("--bars", type=int, default=100_000, help="BAR events in total")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each mode (median)")
    parser.add_argument("--skip-pure", action="store_true", help="no pure-Python rows")
    args = parser.parse_args()
    base = load_config(args.config)
    symbols = len(base.data.symbols)
    steps = max(1, args.bars // symbols)
    config = base.model_copy(update={"bars": steps})
    print(
        f"{config.name}: {steps * symbols:,} bars ({steps:,} steps x {symbols} symbols), "
        f"{len(config.strategies)} strategies, {args.repeats} repeats, medians"
    )
    print(f"load average at start: {load_average()} (other processes inflate wall time)")

    recorders = {"": RECORDER_NAME, "pure": "not run"}
    runs: dict[str, list[dict[str, Timing]]] = {"": [], "pure": []}
    with tempfile.TemporaryDirectory() as tmp, pure_python_child() as child:
        warm_up(config)
        if not args.skip_pure:
            child.submit(warm_up, config).result()
        for repeat in range(args.repeats):
            sides = ["", "pure"] if not args.skip_pure else [""]
            for side in sides[repeat % len(sides) :] + sides[: repeat % len(sides)]:
                if side == "":
                    recorders[side], timings = one_repeat(config, tmp, repeat)
                else:
                    recorders[side], timings = child.submit(
                        one_repeat, config, tmp, repeat
                    ).result()
                runs[side].append(timings)
                print(
                    f"  repeat {repeat + 1} {recorders[side]:>11}: "
                    + ", ".join(f"{m} {t.wall:.3f} s" for m, t in timings.items()),
                    flush=True,
                )

    header = (
        f"{'mode':<24} {'bars':>8} {'events':>8} {'wall s':>7} {'cpu s':>7} {'bars/s':>9} "
        f"{'events/s':>10} {'vs untraced':>11} {'cpu ratio':>9}"
    )
    print()
    print(header)
    print("-" * len(header))
    ratios: dict[str, float] = {}
    untraced_rate = untraced_cpu_rate = 0.0
    for side, repeats in runs.items():
        if not repeats:
            continue

        def med(mode: str, attr: str, repeats: list[dict[str, Timing]] = repeats) -> float:
            return float(statistics.median(getattr(r[mode], attr) for r in repeats))

        # Paired: each repeat's traced run over its own untraced run, then the median.
        ratio = {
            m: statistics.median(r[m].wall / r["untraced"].wall for r in repeats) for m in MODES
        }
        cpu_ratio = {
            m: statistics.median(r[m].cpu / r["untraced"].cpu for r in repeats) for m in MODES
        }
        ratios[side] = ratio["traced"]
        for mode in MODES:
            wall, cpu = med(mode, "wall"), med(mode, "cpu")
            bars, events = repeats[-1][mode].bars, repeats[-1][mode].events
            if side == "" and mode == "untraced":
                untraced_rate, untraced_cpu_rate = bars / wall, bars / cpu
            label = {
                "untraced": "untraced" + (" (pure process)" if side == "pure" else ""),
                "memory": f"  no store, {recorders[side]}",
                "traced": f"traced, {recorders[side]}",
            }[mode]
            shown = (
                f"{ratio[mode]:>10.2f}x {cpu_ratio[mode]:>8.2f}x"
                if mode != "untraced"
                else f"{'':>21}"
            )
            print(
                f"{label:<24} {bars:>8,} {events:>8,} {wall:>7.3f} {cpu:>7.3f} "
                f"{bars / wall:>9,.0f} {events / wall:>10,.0f} {shown}"
            )
    print()
    print(
        f"untraced {untraced_rate:,.0f} bars/s (target >= {UNTRACED_TARGET_BARS_PER_S:,}, "
        f"before issue 9): {'MET' if untraced_rate >= UNTRACED_TARGET_BARS_PER_S else 'MISSED'}"
        f" ({untraced_cpu_rate:,.0f} bars per CPU second)"
    )
    print(
        f"traced/untraced, {recorders['']} recorder: {ratios['']:.2f}x (target <= "
        f"{TRACED_RATIO_TARGET:.2f}x, 7.5x before issue 9): "
        f"{'MET' if ratios[''] <= TRACED_RATIO_TARGET else 'MISSED'}"
    )
    if "pure" in ratios:
        print(f"traced/untraced, {recorders['pure']} recorder: {ratios['pure']:.2f}x (no target)")
    for side, repeats in runs.items():
        if repeats:
            closed = statistics.median(r["traced"].closed / r["untraced"].wall for r in repeats)
            print(f"  with the store closed too, {recorders[side]}: {closed:.2f}x (a checkpoint)")
    print("ratios are medians of each repeat's traced / untraced wall (and CPU) time")
    print(f"load average at end: {load_average()}")


if __name__ == "__main__":
    main()
