"""Risk: turns each SIGNAL into an ORDER, or into a SIGNAL_REJECTED that says why.

Sizing: a strategy that wants to be long (short) in a symbol is given ``position_size`` of
current equity at the signal's price, in whole shares; FLAT closes what that strategy holds.
Each strategy's holding is booked separately, so one strategy closing doesn't undo another.
Limits, checked on the portfolio including orders not yet filled: a symbol's |position| *
price may not exceed ``max_position`` * equity, nor the gross exposure ``max_gross_exposure`` *
equity, unless the order reduces it. A rejected signal is an event, so the trace shows it.
"""

from __future__ import annotations

import math

from eventstore import Event, EventType, TracedEventBus, UniversalContainer
from eventstore.backtest.config import RiskConfig
from eventstore.backtest.portfolio import Portfolio

_WANTED = {"LONG": 1, "FLAT": 0, "SHORT": -1}


class RiskManager(UniversalContainer):
    """Sizes signals into orders within per-symbol and gross exposure limits."""

    def __init__(self, config: RiskConfig, portfolio: Portfolio, bus: TracedEventBus) -> None:
        super().__init__("RiskManager", config.model_dump(), bus)
        self.settings = config
        self.portfolio = portfolio
        self.holdings: dict[tuple[str, str], int] = {}  # (strategy, symbol) -> booked shares
        self.pending: dict[str, int] = {}  # symbol -> signed shares ordered, not yet filled
        self.orders = 0
        self.rejected = 0
        self._bus = bus
        bus.subscribe(EventType.SIGNAL, self.on_signal)
        bus.subscribe(EventType.FILL, self.on_fill)

    def on_signal(self, signal: Event) -> None:
        payload = signal.payload
        symbol: str = payload["symbol"]
        key = (payload["strategy"], symbol)
        price: float = payload["price"]
        wanted = _WANTED[payload["direction"]]
        held = self.holdings.get(key, 0)
        if wanted < 0 and not self.settings.allow_short:
            if held == 0:
                self._reject(signal, "short selling is disabled (risk.allow_short: false)", {})
                return
            wanted = 0
        equity = self.portfolio.equity
        if equity <= 0:
            self._reject(signal, f"equity is {equity:.2f}: no new risk", {"equity": equity})
            return
        target = wanted * math.floor(equity * self.settings.position_size / price)
        quantity = target - held
        if quantity == 0:
            reason = "size rounds to zero shares" if target == 0 and wanted else "already at target"
            self._reject(signal, reason, {"target": target})
            return
        breach = self._limit_breach(symbol, quantity, price, equity)
        if breach is not None:
            self._reject(signal, *breach)
            return
        self.holdings[key] = target
        self.pending[symbol] = self.pending.get(symbol, 0) + quantity
        self.orders += 1
        order = Event(
            EventType.ORDER,
            signal.timestamp,
            {
                "symbol": symbol,
                "strategy": payload["strategy"],
                "side": "BUY" if quantity > 0 else "SELL",
                "quantity": abs(quantity),
                "order_type": "MARKET",
                "reference_price": price,
                "target_position": target,
            },
            {"partition_key": symbol},
        )
        self._bus.publish(order, self)

    def _limit_breach(
        self, symbol: str, quantity: int, price: float, equity: float
    ) -> tuple[str, dict[str, float]] | None:
        """Why an order of ``quantity`` would breach a limit, or None if it may go."""
        before = self.portfolio.positions.get(symbol, 0) + self.pending.get(symbol, 0)
        after = before + quantity
        if abs(after) <= abs(before):
            return None  # reducing risk is always allowed
        exposure = abs(after) * price
        limit = self.settings.max_position * equity
        if exposure > limit:
            return (
                f"{symbol} exposure {exposure:.2f} would exceed the per-symbol limit "
                f"{limit:.2f} (risk.max_position {self.settings.max_position})",
                {"exposure": exposure, "limit": limit},
            )
        gross = self.portfolio.gross_exposure(self.pending)
        gross += (abs(after) - abs(before)) * price
        limit = self.settings.max_gross_exposure * equity
        if gross > limit:
            return (
                f"gross exposure {gross:.2f} would exceed the limit {limit:.2f} "
                f"(risk.max_gross_exposure {self.settings.max_gross_exposure})",
                {"exposure": gross, "limit": limit},
            )
        return None

    def _reject(self, signal: Event, reason: str, details: dict[str, float]) -> None:
        self.rejected += 1
        payload = signal.payload
        symbol = payload["symbol"]
        rejection = Event(
            EventType.SIGNAL_REJECTED,
            signal.timestamp,
            {
                "symbol": symbol,
                "strategy": payload["strategy"],
                "direction": payload["direction"],
                "reason": reason,
                **details,
            },
            {"partition_key": symbol},
        )
        self._bus.publish(rejection, self)

    def on_fill(self, fill: Event) -> None:
        payload = fill.payload
        symbol = payload["symbol"]
        signed = payload["quantity"] if payload["side"] == "BUY" else -payload["quantity"]
        left = self.pending.get(symbol, 0) - signed  # net of all open orders: may pass 0
        if left:
            self.pending[symbol] = left
        else:
            del self.pending[symbol]
