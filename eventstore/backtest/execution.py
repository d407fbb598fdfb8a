"""Execution: fills each market ORDER at the open of the next bar of its symbol.

The order was decided on a bar's close, so the earliest honest price is the next bar's open,
moved against the order by ``slippage_bps``. Commission is ``commission_per_share`` per share,
at least ``min_commission``. A FILL is caused by its ORDER and priced by the BAR it filled on:
two lineage edges, so "why this price?" and "why this trade?" both have an answer.
"""

from __future__ import annotations

from eventstore import Event, EventType, TracedEventBus, UniversalContainer
from eventstore.backtest.config import ExecutionConfig


class ExecutionSimulator(UniversalContainer):
    """Holds orders until their symbol's next bar, then publishes their fills."""

    def __init__(self, config: ExecutionConfig, bus: TracedEventBus) -> None:
        super().__init__("Execution", config.model_dump(), bus)
        self.slippage = config.slippage_bps / 10_000
        self.per_share = config.commission_per_share
        self.min_commission = config.min_commission
        self.pending: dict[str, list[Event]] = {}
        self.fills = 0
        self._bus = bus
        # Subscribe to BAR before any strategy does: an order placed while a bar is dispatched
        # must wait for the next bar, not fill on the bar that caused it.
        bus.subscribe(EventType.BAR, self.on_bar)
        bus.subscribe(EventType.ORDER, self.on_order)

    def on_order(self, order: Event) -> None:
        self.pending.setdefault(order.payload["symbol"], []).append(order)

    def on_bar(self, bar: Event) -> None:
        if not self.pending:
            return
        payload = bar.payload
        orders = self.pending.pop(payload["symbol"], None)
        if orders is None:
            return
        for order in orders:
            self._fill(order, bar)

    def _fill(self, order: Event, bar: Event) -> None:
        ordered = order.payload
        quantity: int = ordered["quantity"]
        buy = ordered["side"] == "BUY"
        open_price: float = bar.payload["open"]
        price = open_price * (1 + self.slippage) if buy else open_price * (1 - self.slippage)
        self.fills += 1
        fill = Event(
            EventType.FILL,
            bar.timestamp,
            {
                "symbol": ordered["symbol"],
                "strategy": ordered["strategy"],
                "side": ordered["side"],
                "quantity": quantity,
                "price": price,
                "commission": max(self.min_commission, self.per_share * quantity),
                "slippage": abs(price - open_price) * quantity,
            },
            {"partition_key": ordered["symbol"]},
        )
        self._bus.publish(fill, self, caused_by=order, parents=[("priced_by", bar)])

    @property
    def open_orders(self) -> int:
        """Orders still waiting for a bar (at the end of a run: never filled)."""
        return sum(len(orders) for orders in self.pending.values())
