"""Run comparison: a run against itself, and two runs that differ at one known bar."""

from __future__ import annotations

from datetime import datetime

import orjson
import pytest

from eventstore import (
    Event,
    EventTracer,
    EventType,
    Store,
    TracedEventBus,
    UniversalContainer,
    queries,
)
from tests.queries.conftest import TradingStore
from tests.queries.flows import Truth


def fill_priced_by(truth: Truth, bar_index: int) -> str:
    bar = truth.of_type("BAR")[bar_index]
    return next(f for f in truth.of_type("FILL") if dict(truth.parents[f])["priced_by"] == bar)


def test_a_run_compared_with_itself_has_no_differences(trading: TradingStore) -> None:
    run = trading.a.run_id
    diff = queries.compare_runs(trading.store, run, run)
    assert diff.identical
    assert diff.divergence.num_rows == 0 and diff.unmatched.num_rows == 0
    assert set(diff.counts["difference"].to_pylist()) == {0}
    ratios = [r for r in diff.latency["ratio"].to_pylist() if r is not None]
    assert ratios and set(ratios) == {1.0}
    assert queries.first_divergence(trading.store, run, run).num_rows == 0


def test_two_runs_diverge_at_the_first_bar_whose_close_differs(trading: TradingStore) -> None:
    a, b = trading.a, trading.b
    bar_a = a.of_type("BAR")[trading.changed_bar]
    bar_b = b.of_type("BAR")[trading.changed_bar]
    assert a.seq(bar_a) == b.seq(bar_b)  # same flow up to there
    (row,) = queries.first_divergence(trading.store, a.run_id, b.run_id).to_pylist()
    assert row["seq"] == a.seq(bar_a)
    assert (row["a_event_id"], row["b_event_id"]) == (bar_a, bar_b)
    assert row["a_event_type"] == row["b_event_type"] == "BAR"
    assert orjson.loads(row["a_payload"])["close"] == 102.5
    assert orjson.loads(row["b_payload"])["close"] == 101.0


def test_orders_and_fills_in_one_run_only(trading: TradingStore) -> None:
    a, b = trading.a, trading.b
    diff = queries.compare_runs(trading.store, a.run_id, b.run_id)
    assert not diff.identical
    rows = diff.unmatched.to_pylist()
    # Only the fill priced by the changed bar differs: same orders, one fill each side.
    fill_a = fill_priced_by(a, trading.changed_bar)
    fill_b = fill_priced_by(b, trading.changed_bar)
    assert [(r["only_in"], r["event_id"], r["event_type"]) for r in rows] == [
        ("a", fill_a, "FILL"),
        ("b", fill_b, "FILL"),
    ]
    assert set(diff.counts["difference"].to_pylist()) == {0}


def test_runs_of_different_length_diverge_where_the_shorter_ends(trading: TradingStore) -> None:
    a, short = trading.a, trading.failing
    (row,) = queries.first_divergence(trading.store, short.run_id, a.run_id).to_pylist()
    assert row["seq"] == len(short.ids) + 1
    assert row["a_event_id"] is None
    assert row["b_event_id"] == sorted(a.ids, key=a.seq)[len(short.ids)]


def _two_events(store: Store, *, order_time: datetime, risk: str) -> str:
    """A run of one BAR and one ORDER; the ORDER's simulated time and source vary."""
    bus = TracedEventBus("compare")
    feed, desk = UniversalContainer("Feed"), UniversalContainer(risk)
    with EventTracer(store=store, name="agreement") as tracer:
        bus.set_tracer(tracer)
        bus.publish(Event(EventType.BAR, datetime(2024, 1, 2), {"close": 100.0}), source=feed)
        bus.publish(Event(EventType.ORDER, order_time, {"qty": 1}), source=desk)
    return tracer.correlation_id


@pytest.mark.parametrize(
    ("time_b", "risk_b"),
    [(datetime(2024, 1, 3), "Risk"), (datetime(2024, 1, 2), "OtherRisk")],
    ids=["sim_time", "source"],
)
def test_runs_differing_only_in_sim_time_or_source_are_not_identical(
    store: Store, time_b: datetime, risk_b: str
) -> None:
    """One definition of agreement for every part: the divergence and the unmatched trades
    name the same ORDER, and the comparison is not called identical."""
    a = _two_events(store, order_time=datetime(2024, 1, 2), risk="Risk")
    b = _two_events(store, order_time=time_b, risk=risk_b)
    diff = queries.compare_runs(store, a, b)
    assert not diff.identical
    (row,) = diff.divergence.to_pylist()
    assert row["seq"] == 2 and row["a_event_type"] == row["b_event_type"] == "ORDER"
    assert sorted(diff.unmatched["only_in"].to_pylist()) == ["a", "b"]
    assert set(diff.unmatched["event_type"].to_pylist()) == {"ORDER"}
    same = queries.compare_runs(store, a, a)
    assert same.identical and same.unmatched.num_rows == 0


def _configured_run(store: Store, config: dict[str, object] | None) -> str:
    with EventTracer(store=store, config=config) as tracer:
        bus = TracedEventBus("configured")
        bus.set_tracer(tracer)
        bus.publish(Event("TICK", datetime(2024, 1, 2), {"price": 1.0}), source="feed")
    return tracer.correlation_id


BASE_CONFIG: dict[str, object] = {
    "seed": 42,
    "data": {"symbols": ["SPY", "QQQ"], "start_price": 100.0},
    "strategies": [
        {"name": None, "type": "moving_average_crossover", "fast": 5, "slow": 20},
        {"name": None, "type": "mean_reversion", "window": 20, "entry_z": 2.0},
    ],
}


def test_the_configuration_keys_that_differ_come_with_the_comparison(
    backend_store: Store,
) -> None:
    """Nested keys by path, a list of strategies by each one's name or type (as a sweep's grid
    names them), a list of plain values as one value, a key one run lacks as null; read alike
    from DuckDB (JSON as text) and PostgreSQL (JSON as objects)."""
    store = backend_store
    changed = orjson.loads(orjson.dumps(BASE_CONFIG))
    changed["strategies"].reverse()  # the order of the strategies is no difference
    changed["strategies"][0]["entry_z"] = 1.5
    changed["data"]["symbols"] = ["SPY"]
    changed["note"] = "tighter entry"
    a, b = _configured_run(store, BASE_CONFIG), _configured_run(store, changed)
    diff = queries.compare_runs(store, a, b)
    assert diff.identical and diff.config_recorded  # same events, different configuration
    assert diff.config.to_pylist() == [
        {"key": "data.symbols", "run_a": '["SPY","QQQ"]', "run_b": '["SPY"]'},
        {"key": "strategies.mean_reversion.entry_z", "run_a": "2.0", "run_b": "1.5"},
        {"key": "note", "run_a": None, "run_b": "tighter entry"},
    ]
    assert queries.compare_runs(store, a, a).config.num_rows == 0


def test_items_that_share_a_name_are_keyed_by_position(store: Store) -> None:
    twins = {"strategies": [{"type": "breakout", "window": 10}, {"type": "breakout", "window": 30}]}
    wider = {"strategies": [{"type": "breakout", "window": 10}, {"type": "breakout", "window": 40}]}
    diff = queries.compare_runs(store, _configured_run(store, twins), _configured_run(store, wider))
    assert diff.config.to_pylist() == [
        {"key": "strategies[1].window", "run_a": "30", "run_b": "40"}
    ]


def test_runs_without_a_configuration_say_none_was_recorded(store: Store) -> None:
    a, b = _configured_run(store, None), _configured_run(store, None)
    diff = queries.compare_runs(store, a, b)
    assert diff.config.num_rows == 0 and not diff.config_recorded
    assert queries.compare_runs(store, a, _configured_run(store, {"seed": 1})).config_recorded
