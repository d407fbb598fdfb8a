"""The portfolio: cash, positions and their marks, and the equity they add up to.

It marks each symbol at the close of its latest bar and books every FILL, then publishes a
PORTFOLIO_UPDATE (caused by that fill) holding the whole portfolio, so the database shows the
portfolio's values at every trade and the accounting can be checked from the events alone:
``cash + sum(positions[s] * prices[s]) == equity``.
"""

from __future__ import annotations

from eventstore import Event, EventType, TracedEventBus, UniversalContainer


class Portfolio(UniversalContainer):
    """Books fills at their price and commission; marks positions to market on every bar."""

    def __init__(self, initial_cash: float, bus: TracedEventBus) -> None:
        super().__init__("Portfolio", {"initial_cash": initial_cash}, bus)
        self.initial_cash = initial_cash
        self.cash = initial_cash
        self.positions: dict[str, int] = {}
        self.marks: dict[str, float] = {}
        self.commissions = 0.0
        self.updates = 0
        self._bus = bus
        bus.subscribe(EventType.BAR, self.on_bar)
        bus.subscribe(EventType.FILL, self.on_fill)

    def on_bar(self, bar: Event) -> None:
        payload = bar.payload
        self.marks[payload["symbol"]] = payload["close"]

    @property
    def market_value(self) -> float:
        """Sum of position * mark (short positions count negative)."""
        marks = self.marks
        return sum(quantity * marks[symbol] for symbol, quantity in self.positions.items())

    @property
    def equity(self) -> float:
        return self.cash + self.market_value

    def gross_exposure(self, extra: dict[str, int] | None = None) -> float:
        """Sum of |position (+ ``extra``)| * mark over symbols.

        Summed in dict order (never a set's), so the float result, and every risk decision
        that depends on it, is the same in every process.
        """
        marks, positions, extra = self.marks, self.positions, extra or {}
        total = 0.0
        for symbol, quantity in positions.items():
            total += abs(quantity + extra.get(symbol, 0)) * marks.get(symbol, 0.0)
        for symbol, quantity in extra.items():
            if symbol not in positions:
                total += abs(quantity) * marks.get(symbol, 0.0)
        return total

    def on_fill(self, fill: Event) -> None:
        payload = fill.payload
        symbol = payload["symbol"]
        quantity: int = payload["quantity"]
        signed = quantity if payload["side"] == "BUY" else -quantity
        commission: float = payload["commission"]
        self.cash -= signed * payload["price"] + commission
        self.commissions += commission
        held = self.positions.get(symbol, 0) + signed
        if held:
            self.positions[symbol] = held
        else:
            del self.positions[symbol]
        self.updates += 1
        positions = dict(self.positions)
        prices = {s: self.marks[s] for s in positions}
        market_value = sum(q * prices[s] for s, q in positions.items())
        update = Event(
            EventType.PORTFOLIO_UPDATE,
            fill.timestamp,
            {
                "symbol": symbol,
                "cash": self.cash,
                "positions": positions,
                "prices": prices,
                "market_value": market_value,
                "equity": self.cash + market_value,
                "commissions": self.commissions,
            },
            {"partition_key": symbol},
        )
        self._bus.publish(update, self)
