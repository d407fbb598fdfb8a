"""What the queries cost on a large store: lineage, latency and run comparison against a full
scan and a naive recursive CTE (issues 5 and 9, "Performance").

Run from the repository root::

    python benchmarks/bench_queries.py                       # 10 runs x 1 000 000 events
    python benchmarks/bench_queries.py --runs 3 --events 100000 --repeats 5   # quick look

The store is built with the tracer itself (``TracedEventBus`` + ``EventTracer`` writing to a
DuckDB file), from a backtest-shaped workload: per bar of one of four symbols, a strategy may
emit a SIGNAL, risk turns it into an ORDER, and the execution handler fills the order on the
symbol's next bar (a FILL ``caused_by`` the ORDER and ``priced_by`` that BAR), which the
portfolio answers with a PORTFOLIO_UPDATE. Payloads look like a backtest's. Runs share one
price path; run ``i >= 1`` changes the close of bar ``events // 10`` (about a quarter of the way
in, at ~2.7 events per bar), so runs 0 and 1 agree on their first quarter (a realistic
``first_divergence``: it has to compare a long common prefix). Building 10 x 1M events takes
about 35 s on a 2-core machine, so the file is cached (``--store``, default under /tmp)
and reused while it holds the expected runs; ``--rebuild`` forces a new one.

What is measured (medians of ``--repeats`` >= 5, one read-only store, warm cache, side by side
in one process and interleaved within each repeat):

- yardstick: ``SELECT sum(length(payload)), max(created_ns) FROM run_events`` (reads every
  row);
- naive CTE: a FILL's ancestors by a recursive CTE over all edges, joined on (run_no, seq) with
  no seq-range filter (what you would write without the pruning bounds);
- ``why``/``effects`` of a FILL and of a BAR of a run in the middle of the store, through the
  Python helpers (id resolution and ``TracedEvent`` building included);
- ``latency_percentiles`` over all runs (by event type);
- ``compare_runs`` of runs 0 and 1 (counts, latency, unmatched trades and first divergence);
- ``first_divergence`` of runs 0 and 1;
- recomputing the lineage bounds of one run (reading its lineage and ``exact_bounds``, without
  the update), what a writer adds to the end of a run whose recorder lost track of a named
  parent's ancestors.

Ratios: "x faster than yardstick" = yardstick / query for the lineage queries, "x yardstick" =
query / yardstick for the scans; "x faster than naive" = naive / query. Targets: issue 5,
why/effects >= 5x faster than the yardstick and >= 20x faster than the naive CTE; percentiles
over all runs <= 8x the yardstick; compare_runs <= 10x the yardstick; issue 9 (compact schema),
why/effects <= 5 ms. Also printed: the store's bytes per event on disk (the file's size over the
events it holds; revision 0001 stores took 86-89).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from eventstore import (
    Event,
    EventTracer,
    EventType,
    Store,
    TracedEventBus,
    UniversalContainer,
    open_store,
    queries,
)
from eventstore.store.bounds import exact_bounds
from eventstore.store.schema import SCHEMA_REVISION

SYMBOLS = ("SPY", "QQQ", "IWM", "TLT")
NAIVE_ANCESTORS = """
WITH RECURSIVE walk (run_no, seq, depth) AS (
    SELECT CAST(? AS INTEGER), CAST(? AS BIGINT), 0
    UNION
    SELECT e.run_no, e.parent_seq, w.depth + 1
    FROM walk AS w JOIN run_edges AS e ON e.run_no = w.run_no AND e.child_seq = w.seq
    WHERE w.depth < 256
)
SELECT ev.seq, ev.type_code, ev.payload
FROM run_events AS ev JOIN walk AS w ON w.run_no = ev.run_no AND w.seq = ev.seq
ORDER BY ev.seq DESC
"""
YARDSTICK = "SELECT sum(length(payload)), max(created_ns) FROM run_events"
# What a writer reads to recompute a run's bounds when the recorder lost track (bounds.py).
RUN_LINEAGE = (
    "SELECT seq, causation_seq, root_seq, end_seq FROM run_events WHERE run_no = ? ORDER BY seq"
)
RUN_EDGES = "SELECT parent_seq, child_seq FROM run_edges WHERE run_no = ?"


# ---------------------------------------------------------------------------------- building


class BacktestShape:
    """Handlers of a small backtest: strategy, risk, execution, portfolio."""

    def __init__(self, bus: TracedEventBus, seed: int, twist_bar: int | None, twist: float):
        self.bus = bus
        self.rng = random.Random(seed)
        self.twist_bar = twist_bar
        self.twist = twist
        self.strategy = UniversalContainer("MomentumStrategy")
        self.risk = UniversalContainer("RiskManager")
        self.execution = UniversalContainer("ExecutionHandler")
        self.portfolio = UniversalContainer("Portfolio")
        self.feed = UniversalContainer("DataFeed")
        self.pending: dict[str, list[Event]] = {s: [] for s in SYMBOLS}
        self.positions: dict[str, int] = dict.fromkeys(SYMBOLS, 0)
        self.cash = 1_000_000.0
        bus.subscribe(EventType.BAR, self.on_bar_execute)
        bus.subscribe(EventType.BAR, self.on_bar_strategy)
        bus.subscribe(EventType.SIGNAL, self.on_signal)
        bus.subscribe(EventType.ORDER, self.on_order)
        bus.subscribe(EventType.FILL, self.on_fill)

    def publish_bar(self, index: int, when: datetime, symbol: str, close: float) -> None:
        if index == self.twist_bar:
            close += self.twist
        bar = {
            "symbol": symbol,
            "open": round(close * 0.999, 4),
            "high": round(close * 1.004, 4),
            "low": round(close * 0.996, 4),
            "close": round(close, 4),
            "volume": 1_000_000 + index % 997 * 1000,
        }
        self.bus.publish(Event(EventType.BAR, when, bar), source=self.feed)

    def on_bar_execute(self, bar: Event) -> None:
        symbol = bar.payload["symbol"]
        orders, self.pending[symbol] = self.pending[symbol], []
        for order in orders:
            fill = {
                "symbol": symbol,
                "side": order.payload["side"],
                "quantity": order.payload["quantity"],
                "price": bar.payload["open"],
                "commission": 1.0,
                "strategy": order.payload["strategy"],
            }
            self.bus.publish(
                Event(EventType.FILL, bar.timestamp, fill),
                source=self.execution,
                caused_by=order,
                parents=[("priced_by", bar)],
            )

    def on_bar_strategy(self, bar: Event) -> None:
        if self.rng.random() < 0.45:
            signal = {
                "symbol": bar.payload["symbol"],
                "strategy": "momentum_fast",
                "direction": "LONG" if self.rng.random() < 0.5 else "SHORT",
                "strength": round(self.rng.random(), 4),
                "price": bar.payload["close"],
            }
            self.bus.publish(Event(EventType.SIGNAL, bar.timestamp, signal), source=self.strategy)

    def on_signal(self, signal: Event) -> None:
        if signal.payload["strength"] < 0.1:
            rejected = {"symbol": signal.payload["symbol"], "reason": "weak signal"}
            self.bus.publish(
                Event(EventType.SIGNAL_REJECTED, signal.timestamp, rejected), source=self.risk
            )
            return
        order = {
            "symbol": signal.payload["symbol"],
            "side": "BUY" if signal.payload["direction"] == "LONG" else "SELL",
            "quantity": 10 + int(signal.payload["strength"] * 90),
            "order_type": "MARKET",
            "strategy": signal.payload["strategy"],
        }
        self.bus.publish(Event(EventType.ORDER, signal.timestamp, order), source=self.risk)

    def on_order(self, order: Event) -> None:
        self.pending[order.payload["symbol"]].append(order)

    def on_fill(self, fill: Event) -> None:
        sign = 1 if fill.payload["side"] == "BUY" else -1
        self.positions[fill.payload["symbol"]] += sign * fill.payload["quantity"]
        self.cash -= sign * fill.payload["quantity"] * fill.payload["price"] + 1.0
        update = {"cash": round(self.cash, 2), "positions": dict(self.positions)}
        self.bus.publish(
            Event(EventType.PORTFOLIO_UPDATE, fill.timestamp, update), source=self.portfolio
        )


def trace_run(store: Store, index: int, events: int) -> str:
    """Trace one run of about ``events`` events (it stops at the first bar past the count)."""
    bus = TracedEventBus("backtest")
    twist_bar = None if index == 0 else events // 10  # ~ a quarter in: ~2.7 events per bar
    shape = BacktestShape(bus, seed=7, twist_bar=twist_bar, twist=0.01 * index)
    prices = random.Random(11)
    closes = dict.fromkeys(SYMBOLS, 100.0)
    start = datetime(2020, 1, 1, 9, 30)
    with EventTracer(store=store, name=f"bench-{index}", config={"run": index}) as tracer:
        bus.set_tracer(tracer)
        bar = 0
        while tracer.event_count < events:
            symbol = SYMBOLS[bar % len(SYMBOLS)]
            closes[symbol] *= 1 + prices.gauss(0, 0.001)
            when = start + timedelta(minutes=bar // len(SYMBOLS))
            shape.publish_bar(bar, when, symbol, closes[symbol])
            bar += 1
    return tracer.correlation_id


def store_ready(path: Path, runs: int, events: int) -> bool:
    if not path.exists():
        return False
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error:
        return False
    try:
        version = con.execute("SELECT version_num FROM alembic_version").fetchone()
        row = con.execute(
            "SELECT count(*), min(event_count) FROM runs WHERE status = 'completed'"
        ).fetchone()
    except duckdb.Error:
        return False
    finally:
        con.close()
    if version is None or version[0] != SCHEMA_REVISION:
        return False  # an older store: build a new one rather than time a migrated file
    return row is not None and row[0] == runs and (row[1] or 0) >= events


def build(path: Path, runs: int, events: int, quiet: bool) -> None:
    for suffix in ("", ".wal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    started = time.perf_counter()
    with open_store(path) as store:
        for index in range(runs):
            t0 = time.perf_counter()
            run_id = trace_run(store, index, events)
            if not quiet:
                print(
                    f"  traced {run_id}: {events:,} events in {time.perf_counter() - t0:.1f} s",
                    file=sys.stderr,
                )
    if not quiet:
        print(f"built {path} in {time.perf_counter() - started:.0f} s", file=sys.stderr)


# ---------------------------------------------------------------------------------- measuring


@dataclass
class Case:
    name: str
    run: Callable[[], Any]
    kind: str  # "lineage" (compare as faster than), "scan" (compare as multiple of), "base"
    target: str
    times: list[float]


LINEAGE = "<=5 ms, >=5x, >=20x"


def run_no_and_seq(store: Store, event_id: str) -> tuple[int, int]:
    tag, _, seq = event_id.rpartition("-")
    con = store.cursor()
    try:
        row = con.execute("SELECT run_no FROM runs WHERE tag = ?", [tag]).fetchone()
    finally:
        con.close()
    assert row is not None
    return int(row[0]), int(seq)


def pick_events(store: Store, run_id: str) -> tuple[str, str]:
    """A FILL and a BAR with a SIGNAL, both in the middle of ``run_id``."""
    con = store.cursor()
    try:
        middle = con.execute(
            "SELECT max(seq) // 2 FROM events WHERE run_id = ?", [run_id]
        ).fetchone()
        assert middle is not None
        fill = con.execute(
            "SELECT event_id FROM events WHERE run_id = ? AND seq >= ? AND event_type = 'FILL' "
            "ORDER BY seq LIMIT 1",
            [run_id, middle[0]],
        ).fetchone()
        bar = con.execute(
            "SELECT e.causation_id FROM events AS e WHERE e.run_id = ? AND e.seq >= ? "
            "AND e.event_type = 'SIGNAL' ORDER BY e.seq LIMIT 1",
            [run_id, middle[0]],
        ).fetchone()
    finally:
        con.close()
    assert fill is not None and bar is not None
    return str(fill[0]), str(bar[0])


def measure(path: Path, repeats: int, quiet: bool) -> None:
    store = open_store(path, read_only=True)
    con = store.cursor()
    run_ids = [r["run_id"] for r in queries.list_runs(store).to_pylist()][::-1]  # oldest first
    middle = run_ids[len(run_ids) // 2]
    fill, bar = pick_events(store, middle)
    fill_run_no, fill_seq = run_no_and_seq(store, fill)
    run_a, run_b = run_ids[0], run_ids[min(1, len(run_ids) - 1)]
    total = sum(r["events"] for r in queries.list_runs(store).to_pylist())

    def sql(text: str, *params: object) -> Callable[[], Any]:
        return lambda: con.execute(text, list(params)).fetchall()

    cases = [
        Case("yardstick full scan", sql(YARDSTICK), "base", "", []),
        Case(
            "naive CTE: FILL ancestors",
            sql(NAIVE_ANCESTORS, fill_run_no, fill_seq),
            "naive",
            "",
            [],
        ),
        Case("why(FILL)", lambda: queries.why(store, fill), "lineage", LINEAGE, []),
        Case("effects(FILL)", lambda: queries.effects(store, fill), "lineage", LINEAGE, []),
        Case("why(BAR)", lambda: queries.why(store, bar), "lineage", LINEAGE, []),
        Case("effects(BAR)", lambda: queries.effects(store, bar), "lineage", LINEAGE, []),
        Case(
            "latency percentiles, all runs",
            lambda: queries.latency_percentiles(store),
            "scan",
            "<=8x",
            [],
        ),
        Case(
            "compare_runs(0, 1)",
            lambda: queries.compare_runs(store, run_a, run_b),
            "scan",
            "<=10x",
            [],
        ),
        Case(
            "first_divergence(0, 1)",
            lambda: queries.first_divergence(store, run_a, run_b),
            "scan",
            "",
            [],
        ),
        Case(
            "recompute one run's bounds",
            lambda: exact_bounds(
                con.sql(RUN_LINEAGE, params=[fill_run_no]).to_arrow_table(),
                con.sql(RUN_EDGES, params=[fill_run_no]).to_arrow_table(),
            ),
            "scan",
            "",
            [],
        ),
    ]
    for case in cases:  # warm-up: caches, and checks every query runs
        case.run()
    for repeat in range(repeats):
        order = cases[repeat % len(cases) :] + cases[: repeat % len(cases)]
        for case in order:
            t0 = time.perf_counter()
            case.run()
            case.times.append(time.perf_counter() - t0)
        if not quiet:
            print(f"  repeat {repeat + 1}/{repeats} done", file=sys.stderr)
    divergence = queries.first_divergence(store, run_a, run_b).to_pylist()
    store.close()

    size = path.stat().st_size
    median = {c.name: statistics.median(c.times) * 1000 for c in cases}
    base = median["yardstick full scan"]
    naive = median["naive CTE: FILL ancestors"]
    print(
        f"\nstore: {path} - {len(run_ids)} runs, {total:,} events, {size / 1e6:,.0f} MB, "
        f"{size / total:.0f} bytes per event"
    )
    print(f"events: FILL {fill}, BAR {bar} (run {middle}); compared runs {run_a} and {run_b}")
    if divergence:
        print(f"first divergence of runs 0 and 1 at seq {divergence[0]['seq']:,}")
    print(f"medians of {repeats} repeats (warm cache, read-only store)\n")
    header = f"{'query':32} {'median ms':>10} {'min ms':>9} {'vs yardstick':>16} {'vs naive':>14}"
    print(header + f"  {'target':>20}")
    print("-" * (len(header) + 22))
    for case in cases:
        ms = median[case.name]
        low = min(case.times) * 1000
        if case.kind in ("lineage", "naive"):
            vs_base = f"{base / ms:.1f}x faster" if ms <= base else f"{ms / base:.1f}x slower"
        elif case.kind == "scan":
            vs_base = f"{ms / base:.1f}x"
        else:
            vs_base = "1.0x"
        vs_naive = f"{naive / ms:.0f}x faster" if case.kind == "lineage" else ""
        print(
            f"{case.name:32} {ms:10.1f} {low:9.1f} {vs_base:>16} {vs_naive:>14}  {case.target:>20}"
        )
    print(f"{'bytes per event on disk':32} {size / total:10.1f}  (revision 0001 stores: 86-89)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=" ".join((__doc__ or "").split("\n\n")[0].split()))
    parser.add_argument("--runs", type=int, default=10, help="runs in the store (default 10)")
    parser.add_argument(
        "--events", type=int, default=1_000_000, help="events per run (default 1 000 000)"
    )
    parser.add_argument("--repeats", type=int, default=7, help="timed repeats, >= 5 (default 7)")
    parser.add_argument(
        "--store", type=Path, help="store file (default /tmp/eventstore-bench-RUNSxEVENTS.duckdb)"
    )
    parser.add_argument("--rebuild", action="store_true", help="build the store even if cached")
    parser.add_argument(
        "--build-only", action="store_true", help="build the store, measure nothing"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)
    if args.repeats < 5:
        parser.error("--repeats must be at least 5: the table reports medians")
    if args.runs < 2 or args.events < 1000:
        parser.error("need --runs >= 2 and --events >= 1000 to compare runs")
    path = args.store or Path(f"/tmp/eventstore-bench-{args.runs}x{args.events}.duckdb")
    if args.rebuild or not store_ready(path, args.runs, args.events):
        if not args.quiet:
            print(f"building {path}: {args.runs} runs x {args.events:,} events", file=sys.stderr)
        build(path, args.runs, args.events, args.quiet)
    elif not args.quiet:
        print(f"reusing {path} (--rebuild to build it again)", file=sys.stderr)
    if not args.build_only:
        print(f"duckdb {duckdb.__version__}, {os.cpu_count()} CPUs")
        measure(path, args.repeats, args.quiet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
