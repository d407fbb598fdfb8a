"""Risk rules seen from the events: long-only configs never hold a short position, and limits
turn signals into SIGNAL_REJECTED events instead of orders."""

from __future__ import annotations

from typing import Any

from eventstore import Event, EventType
from eventstore.backtest import BacktestConfig, BacktestContainer, load_config

from .conftest import REPO


def test_long_only_config_never_holds_a_short_position() -> None:
    config = load_config(REPO / "config" / "trend_following.yaml", bars=400)
    assert not config.risk.allow_short
    backtest = BacktestContainer(config, trace=False)
    seen: list[dict[str, int]] = []
    backtest.bus.subscribe(
        EventType.PORTFOLIO_UPDATE, lambda update: seen.append(update.payload["positions"])
    )
    backtest.run()
    assert seen
    assert all(quantity > 0 for positions in seen for quantity in positions.values())


def test_a_signal_becomes_an_order_or_a_rejection(config_data: dict[str, Any]) -> None:
    config_data["risk"] = {"position_size": 0.3, "max_position": 0.25}  # every entry too big
    backtest = BacktestContainer(BacktestConfig.model_validate(config_data), trace=False)
    outcomes: list[Event] = []
    backtest.bus.subscribe(EventType.ORDER, outcomes.append)
    backtest.bus.subscribe(EventType.SIGNAL_REJECTED, outcomes.append)
    result = backtest.run()
    assert len(outcomes) == result.events_by_type["SIGNAL"] > 0
    assert result.orders == 0
    reasons = {event.payload["reason"].split(" exposure")[0] for event in outcomes}
    assert reasons <= {"AAA", "BBB", "CCC", "already at target"}
    assert any("per-symbol limit" in event.payload["reason"] for event in outcomes)
