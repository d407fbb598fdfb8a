"""Peak memory and time to the first event of a traced backtest, at a small and a large size.

    python benchmarks/feed_scale.py                    # 100 000 and 2 000 000 bars per symbol
    python benchmarks/feed_scale.py --bars 50000 --seconds 10

Each size runs what ``eventstore run --config config/multi_strategy_test.yaml --bars N`` runs
(4 symbols, so 2 000 000 bars per symbol are 8 000 000 BAR events), traced into a throwaway
DuckDB file, in a fresh child process so that nothing of one size is left in the next. A run is
stopped (``interrupted``, as by Ctrl-C) after ``seconds``: peak RSS is over the run or that
window, which is long enough for anything held per bar to show. Before the feed streamed, the
2 000 000-bar run took 10 s to its first event and held 2.4 GB after 30 s.

- ``first event s``: from reading the config (imports excluded) to the first bar handed to the
  bus: config, data setup, opening the store and starting the run.
- ``peak RSS MB``: the child's own high-water mark (``VmHWM``; ``ru_maxrss`` would also count
  the parent that forked it).

``measure(bars)`` returns one row as a dict, for other benchmark scripts to print.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "config" / "multi_strategy_test.yaml"
SIZES = (100_000, 2_000_000)


def measure(bars: int, seconds: float = 30.0) -> dict[str, Any]:
    """One traced run of ``bars`` bars per symbol in a child process (stopped after
    ``seconds``): ``bars``, ``bars_published``, ``completed``, ``first_event_s``,
    ``peak_rss_mb``, ``run_s`` and ``bars_per_s``."""
    with tempfile.TemporaryDirectory(prefix="feed-scale-") as folder:
        db = Path(folder) / "runs.duckdb"
        done = subprocess.run(
            [sys.executable, __file__, "--child", str(bars), str(seconds), str(db)],
            capture_output=True,
            text=True,
            timeout=seconds + 300,
            check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"the {bars:,}-bar run failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _child(bars: int, seconds: float, db: Path) -> dict[str, Any]:
    from eventstore import open_store
    from eventstore.backtest import BacktestContainer, BarStream, load_config, load_market_data
    from eventstore.backtest.market_data import Row

    start = time.perf_counter()
    config = load_config(CONFIG, bars=bars)
    data = load_market_data(config)
    first: list[float] = []

    def timed() -> Iterator[Row]:
        rows = data.open()
        for row in rows:
            first.append(time.perf_counter() - start)
            yield row
            break
        yield from rows

    def stop_after_time(done: int) -> None:
        if time.perf_counter() - start > seconds:
            raise KeyboardInterrupt("time is up")

    completed = True
    with open_store(db) as store:
        backtest = BacktestContainer(
            config, store, market_data=BarStream(data.symbols, data.total, timed)
        )
        run_start = time.perf_counter()
        try:
            backtest.run(stop_after_time)
        except KeyboardInterrupt:
            completed = False
        run_s = time.perf_counter() - run_start
    published = backtest.feed.published
    return {
        "bars": bars,
        "bars_published": published,
        "completed": completed,
        "first_event_s": first[0] if first else None,
        "peak_rss_mb": _peak_rss_mb(),
        "run_s": run_s,
        "bars_per_s": published / run_s if run_s else 0.0,
    }


def _peak_rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=" ".join((__doc__ or "").split("\n\n")[0].split()))
    parser.add_argument("--bars", type=int, nargs="+", default=list(SIZES), help="per symbol")
    parser.add_argument("--seconds", type=float, default=30.0, help="stop each run after this")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        bars, seconds, db = args.child
        print(json.dumps(_child(int(bars), float(seconds), Path(db))))
        return
    rows = [measure(bars, args.seconds) for bars in args.bars]
    print(f"{'bars/symbol':>12} {'first event s':>14} {'peak RSS MB':>12} {'bars run':>12}"
          f" {'bars/s':>9}  run")  # fmt: skip
    for row in rows:
        state = "complete" if row["completed"] else f"stopped at {args.seconds:g} s"
        print(
            f"{row['bars']:>12,} {row['first_event_s']:>14.3f} {row['peak_rss_mb']:>12.0f} "
            f"{row['bars_published']:>12,} {row['bars_per_s']:>9,.0f}  {state}"
        )
    if len(rows) > 1:
        growth = rows[-1]["peak_rss_mb"] - rows[0]["peak_rss_mb"]
        print(f"peak RSS growth {rows[0]['bars']:,} -> {rows[-1]['bars']:,} bars: {growth:+.0f} MB")


if __name__ == "__main__":
    main()
