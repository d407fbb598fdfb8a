"""Latency percentiles equal numpy's on the same deliveries, read back with plain SQL."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from eventstore import (
    Event,
    EventTracer,
    Store,
    TracedEventBus,
    UniversalContainer,
    open_store,
    queries,
)
from eventstore.errors import QueryError
from tests.queries.conftest import TradingStore

COLUMN = {"type": "event_type", "handler": "handler", "source": "source"}


def raw_deliveries(store: Store, run_ids: list[str]) -> list[dict[str, object]]:
    """Each delivery's queueing and handling time (ns), read back with plain SQL."""
    cursor = store.cursor()
    rows = cursor.execute(
        "SELECT d.run_id, e.event_type, d.handler, e.source, d.received_ns - e.emitted_ns, "
        "d.processed_ns - d.received_ns FROM deliveries d JOIN events e "
        "ON e.run_id = d.run_id AND e.seq = d.seq WHERE list_contains(?, d.run_id)",
        [run_ids],
    ).fetchall()
    keys = ("run_id", "event_type", "handler", "source", "queue", "handle")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def expected(rows: list[dict[str, object]], key: str) -> dict[object, dict[str, float]]:
    groups: dict[object, dict[str, list[int]]] = defaultdict(lambda: {"queue": [], "handle": []})
    for row in rows:
        for metric in ("queue", "handle"):
            groups[row[key]][metric].append(row[metric])  # type: ignore[arg-type]
    result: dict[object, dict[str, float]] = {}
    for group, values in groups.items():
        stats: dict[str, float] = {"deliveries": len(values["queue"])}
        for metric, ns in values.items():
            arr = np.array(ns, dtype=np.float64)
            for q in (50, 90, 99):
                stats[f"{metric}_p{q}_ms"] = float(np.percentile(arr, q)) / 1e6
            stats[f"{metric}_max_ms"] = float(arr.max()) / 1e6
        result[group] = stats
    return result


def assert_matches(table: object, want: dict[object, dict[str, float]], key: str) -> None:
    rows = table.to_pylist()  # type: ignore[attr-defined]
    assert {row[key] for row in rows} == set(want)
    for row in rows:
        for metric, value in want[row[key]].items():
            assert row[metric] == pytest.approx(value, rel=1e-9, abs=1e-12), (row[key], metric)


@pytest.mark.parametrize("by", ["type", "handler", "source"])
def test_percentiles_of_one_run_equal_numpys(trading: TradingStore, by: str) -> None:
    run = trading.a.run_id
    table = queries.latency_percentiles(trading.store, [run], by=by)  # type: ignore[arg-type]
    key = COLUMN[by]
    assert_matches(table, expected(raw_deliveries(trading.store, [run]), key), key)


def test_percentiles_pool_several_runs(trading: TradingStore) -> None:
    runs = [trading.a.run_id, trading.b.run_id]
    table = queries.latency_percentiles(trading.store, runs, by="handler")
    assert_matches(table, expected(raw_deliveries(trading.store, runs), "handler"), "handler")


def test_percentiles_over_all_runs_when_none_is_named(trading: TradingStore) -> None:
    runs = [t.run_id for t in (trading.a, trading.b, trading.failing)]
    table = queries.latency_percentiles(trading.store)
    assert_matches(table, expected(raw_deliveries(trading.store, runs), "event_type"), "event_type")


def test_per_run_percentiles_group_each_run_apart(trading: TradingStore) -> None:
    runs = [trading.a.run_id, trading.b.run_id]
    table = queries.latency_percentiles(trading.store, runs, per_run=True)
    rows = raw_deliveries(trading.store, runs)
    for run in runs:
        mine = table.filter(table["run_id"].to_numpy(zero_copy_only=False) == run)
        want = expected([r for r in rows if r["run_id"] == run], "event_type")
        assert_matches(mine, want, "event_type")


def test_grouping_by_the_column_name_is_grouping_by_its_short_name(trading: TradingStore) -> None:
    by_column = queries.latency_percentiles(trading.store, by="event_type")
    assert by_column.equals(queries.latency_percentiles(trading.store, by="type"))
    assert "event_type" in by_column.column_names


def test_grouping_by_anything_else_is_refused(trading: TradingStore) -> None:
    with pytest.raises(QueryError, match="cannot group latencies by 'color'"):
        queries.latency_percentiles(trading.store, by="color")  # type: ignore[arg-type]


def test_milliseconds_carry_no_division_noise(trading: TradingStore) -> None:
    """ns / 1e6 leaves binary noise in the last digits (0.009915190000000039): the ms values
    are the nearest doubles to 12 significant digits, so CSV and JSON print them clean."""
    table = queries.latency_percentiles(trading.store, [trading.a.run_id], by="handler")
    values = [
        v for name in table.column_names if name.endswith("_ms") for v in table[name].to_pylist()
    ]
    assert values and all(v is not None for v in values)
    assert all(v == float(f"{v:.12g}") for v in values)


class _Router(UniversalContainer):
    """Does nothing itself: each REQ is handed on as a WORK event to the cruncher."""

    def __init__(self, name: str, bus: TracedEventBus) -> None:
        super().__init__(name)
        self.bus = bus

    def on_req(self, event: Event) -> None:
        self.bus.publish(Event("WORK", event.timestamp, {"n": event.payload["n"]}), source=self)


class _Cruncher(UniversalContainer):
    def on_work(self, event: Event) -> None:
        sum(range(20_000))  # the run's real work


def _trace_router_and_cruncher(path: Path) -> str:
    bus = TracedEventBus("main")
    router, cruncher = _Router("router", bus), _Cruncher("cruncher")
    bus.subscribe("REQ", router.on_req)
    bus.subscribe("WORK", cruncher.on_work)
    with open_store(path) as store, EventTracer(store=store, name="profile") as tracer:
        bus.set_tracer(tracer)
        for n in range(5):
            bus.publish(Event("REQ", datetime(2024, 1, 2, 9, n), {"n": n}), source="client")
    return tracer.correlation_id


def test_handler_times_are_a_flat_profile_of_self_and_inclusive_time(tmp_path: Path) -> None:
    path = tmp_path / "runs.duckdb"
    run = _trace_router_and_cruncher(path)
    table = queries.handler_times(path, run)
    with open_store(path, read_only=True) as store:
        raw = (
            store.cursor()
            .execute(
                "SELECT handler, count(*), sum(self_ns), sum(processed_ns - received_ns), "
                "max(self_ns) FROM deliveries WHERE run_id = ? GROUP BY handler",
                [run],
            )
            .fetchall()
        )
    want = {h: (n, s / 1e6, i / 1e6, m / 1e6) for h, n, s, i, m in raw}
    rows = {r["handler"]: r for r in table.to_pylist()}
    assert set(rows) == {"router.on_req", "cruncher.on_work"} == set(want)
    for handler, (n, self_ms, inclusive_ms, self_max_ms) in want.items():
        row = rows[handler]
        assert row["deliveries"] == n == 5
        assert row["self_ms"] == pytest.approx(self_ms, rel=1e-12)
        assert row["inclusive_ms"] == pytest.approx(inclusive_ms, rel=1e-12)
        assert row["self_max_ms"] == pytest.approx(self_max_ms, rel=1e-12)
    # the router's inclusive time is its own plus exactly the cruncher's deliveries inside it
    router, cruncher = rows["router.on_req"], rows["cruncher.on_work"]
    assert router["inclusive_ms"] - router["self_ms"] == pytest.approx(cruncher["inclusive_ms"])
    assert cruncher["self_ms"] == cruncher["inclusive_ms"]
    selfs = table["self_ms"].to_pylist()
    assert selfs == sorted(selfs, reverse=True)
    assert queries.handler_times(path, "latest").equals(table)


def test_the_report_ranks_handlers_by_self_time(tmp_path: Path) -> None:
    path = tmp_path / "runs.duckdb"
    run = _trace_router_and_cruncher(path)
    order = queries.handler_times(path, run)["handler"].to_pylist()
    with open_store(path, read_only=True) as store:
        (slowest,) = store.cursor().execute(
            "SELECT handler FROM deliveries ORDER BY self_ns DESC LIMIT 1"
        ).fetchone() or (None,)
    html = queries.report_html(path, run)
    section = html[html.index('id="slowest"') : html.index('id="chains"')]
    by_self = section[: section.index("Handlers by p99 handling time (inclusive)")]
    assert "Handlers by self time" in by_self
    assert re.findall(r"<tr><td>([\w.]+)</td>", by_self) == order
    deliveries = section[section.index("slowest deliveries, by self time") :]
    assert re.findall(r"<tr><td>([\w.]+)</td>", deliveries)[0] == slowest


def test_handler_times_of_an_unknown_run_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "runs.duckdb"
    _trace_router_and_cruncher(path)
    with pytest.raises(QueryError, match="no run"):
        queries.handler_times(path, "zzzz")
