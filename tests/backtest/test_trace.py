"""A traced backtest's database: every FILL goes back FILL -> ORDER -> SIGNAL -> BAR, every
ORDER has its SIGNAL, rejected signals are there with their reason; the run row carries the
config and ends completed (or failed)."""

from __future__ import annotations

import orjson
import pytest

from eventstore import Event, EventType, Store
from eventstore.backtest import BacktestConfig, BacktestContainer, BacktestResult

from .conftest import events_of, run_status


@pytest.fixture
def traced(store: Store, small_config: BacktestConfig) -> BacktestResult:
    result = BacktestContainer(small_config, store).run()
    assert result.fills > 10 and result.rejected_signals > 0  # the config exercises both
    return result


def _run_id(result: BacktestResult) -> str:
    assert result.correlation_id is not None
    return result.correlation_id


def test_run_row_is_completed_with_the_config(
    store: Store, traced: BacktestResult, small_config: BacktestConfig
) -> None:
    row = (
        store.cursor()
        .execute(
            "SELECT status, name, config, event_count FROM runs WHERE run_id = ?", [_run_id(traced)]
        )
        .fetchone()
    )
    assert row is not None
    status, name, config, event_count = row
    assert (status, name) == ("completed", "small_test")
    assert orjson.loads(config) == small_config.to_record()
    assert event_count == traced.event_count


def test_stored_event_counts_match_the_result(store: Store, traced: BacktestResult) -> None:
    rows = store.cursor().execute(
        "SELECT event_type, count(*) FROM events WHERE run_id = ? GROUP BY event_type",
        [_run_id(traced)],
    )
    assert dict(rows.fetchall()) == {k: v for k, v in traced.events_by_type.items() if v}


def test_every_fill_chain_goes_back_to_a_bar(store: Store, traced: BacktestResult) -> None:
    chains = (
        store.cursor()
        .execute(
            """
            SELECT f.event_id, f.payload, o.event_type, o.payload, s.event_type, s.payload,
                   b.event_type, b.payload
            FROM events f
            JOIN lineage_edges fo ON fo.run_id = f.run_id AND fo.child_id = f.event_id
                                  AND fo.kind = 'caused_by'
            JOIN events o ON o.run_id = f.run_id AND o.event_id = fo.parent_id
            JOIN lineage_edges os ON os.run_id = f.run_id AND os.child_id = o.event_id
                                  AND os.kind = 'caused_by'
            JOIN events s ON s.run_id = f.run_id AND s.event_id = os.parent_id
            JOIN lineage_edges sb ON sb.run_id = f.run_id AND sb.child_id = s.event_id
                                  AND sb.kind = 'caused_by'
            JOIN events b ON b.run_id = f.run_id AND b.event_id = sb.parent_id
            WHERE f.run_id = ? AND f.event_type = 'FILL'
            """,
            [_run_id(traced)],
        )
        .fetchall()
    )
    assert len(chains) == traced.fills
    for _, fill, order_type, order, signal_type, signal, bar_type, bar in chains:
        assert (order_type, signal_type, bar_type) == ("ORDER", "SIGNAL", "BAR")
        fill, order, signal, bar = map(orjson.loads, (fill, order, signal, bar))
        assert fill["symbol"] == order["symbol"] == signal["symbol"] == bar["symbol"]
        assert (fill["side"], fill["quantity"]) == (order["side"], order["quantity"])
        assert signal["price"] == bar["close"]  # decided on the bar's close


def test_fills_are_priced_by_the_next_bar_of_their_symbol(
    store: Store, traced: BacktestResult
) -> None:
    rows = (
        store.cursor()
        .execute(
            """
            SELECT f.payload, b.payload, b.seq, b.sim_time, o.sim_time,
                   (SELECT min(n.seq) FROM events n
                    WHERE n.run_id = o.run_id AND n.event_type = 'BAR' AND n.seq > o.seq
                      AND n.partition_key = o.partition_key) AS next_bar_seq
            FROM events f
            JOIN lineage_edges p ON p.run_id = f.run_id AND p.child_id = f.event_id
                                 AND p.kind = 'priced_by'
            JOIN events b ON b.run_id = f.run_id AND b.event_id = p.parent_id
            JOIN lineage_edges c ON c.run_id = f.run_id AND c.child_id = f.event_id
                                 AND c.kind = 'caused_by'
            JOIN events o ON o.run_id = f.run_id AND o.event_id = c.parent_id
            WHERE f.run_id = ? AND f.event_type = 'FILL'
            """,
            [_run_id(traced)],
        )
        .fetchall()
    )
    assert len(rows) == traced.fills
    slippage = 2.0 / 10_000
    for fill, bar, bar_seq, bar_time, order_time, next_bar_seq in rows:
        fill, bar = orjson.loads(fill), orjson.loads(bar)
        assert bar_seq == next_bar_seq and bar_time > order_time
        sign = 1 if fill["side"] == "BUY" else -1
        assert fill["price"] == pytest.approx(bar["open"] * (1 + sign * slippage))
        assert fill["commission"] == pytest.approx(max(1.0, 0.01 * fill["quantity"]))


def test_every_order_has_a_signal_parent(store: Store, traced: BacktestResult) -> None:
    orphans = (
        store.cursor()
        .execute(
            """
            SELECT count(*) FROM events o
            WHERE o.run_id = ? AND o.event_type = 'ORDER' AND NOT EXISTS (
                SELECT 1 FROM lineage_edges e JOIN events s
                  ON s.run_id = e.run_id AND s.event_id = e.parent_id
                WHERE e.run_id = o.run_id AND e.child_id = o.event_id
                  AND s.event_type = 'SIGNAL')
            """,
            [_run_id(traced)],
        )
        .fetchone()
    )
    assert orphans == (0,)
    assert len(events_of(store, _run_id(traced), "ORDER")) == traced.orders


def test_rejected_signals_are_stored_with_their_reason(
    store: Store, traced: BacktestResult
) -> None:
    run_id = _run_id(traced)
    signals = {e["event_id"]: e for e in events_of(store, run_id, "SIGNAL")}
    rejections = events_of(store, run_id, "SIGNAL_REJECTED")
    assert len(rejections) == traced.rejected_signals
    for rejection in rejections:
        signal = signals[rejection["causation_id"]]
        assert rejection["payload"]["reason"]
        assert rejection["payload"]["symbol"] == signal["payload"]["symbol"]
        assert rejection["partition_key"] == signal["payload"]["symbol"]
    reasons = " | ".join(r["payload"]["reason"] for r in rejections)
    assert "limit" in reasons  # the tight limits of the small config bite


def test_a_failing_handler_fails_the_run(store: Store, small_config: BacktestConfig) -> None:
    backtest = BacktestContainer(small_config, store)

    def broken_handler(fill: Event) -> None:
        raise RuntimeError("reconciliation failed")

    backtest.bus.subscribe(EventType.FILL, broken_handler)
    with pytest.raises(RuntimeError, match="reconciliation failed"):
        backtest.run()
    assert run_status(store) == [(backtest.correlation_id, "failed")]
