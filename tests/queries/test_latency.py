"""Latency percentiles equal numpy's on the same deliveries, read back with plain SQL."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest

from eventstore import Store, queries
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
