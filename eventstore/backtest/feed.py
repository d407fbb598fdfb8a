"""The data feed: publishes every bar of the market data, in time order, as a root event.

This loop is the backtest's hot path: every other event is published from inside a BAR's
dispatch. It does per bar only what the event needs: one payload dict, one metadata dict, one
``Event`` and one publish.
"""

from __future__ import annotations

from collections.abc import Callable

from eventstore import Event, EventType, TracedEventBus, UniversalContainer
from eventstore.backtest.market_data import MarketData

ProgressCallback = Callable[[int], None]
"""Called with the number of bars published so far."""


class DataFeed(UniversalContainer):
    """Replays ``MarketData`` onto the bus."""

    def __init__(self, data: MarketData, bus: TracedEventBus) -> None:
        super().__init__("DataFeed", {"symbols": data.symbols, "bars": len(data)}, bus)
        self.data = data
        self.published = 0
        self._bus = bus

    def run(self, progress: ProgressCallback | None = None, every: int = 10_000) -> int:
        """Publish every bar; ``progress`` is called every ``every`` bars and at the end."""
        rows = self.data.rows
        publish = self._bus.publish
        bar_type = EventType.BAR
        for start in range(self.published, len(rows), every):
            for when, symbol, open_, high, low, close, volume in rows[start : start + every]:
                publish(
                    Event(
                        bar_type,
                        when,
                        {
                            "symbol": symbol,
                            "open": open_,
                            "high": high,
                            "low": low,
                            "close": close,
                            "volume": volume,
                        },
                        {"partition_key": symbol},
                    ),
                    self,
                )
            self.published = min(start + every, len(rows))
            if progress is not None:
                progress(self.published)
        return self.published
