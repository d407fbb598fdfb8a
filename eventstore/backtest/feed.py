"""The data feed: publishes every bar of the market data, in time order, as a root event.

This loop is the backtest's hot path: every other event is published from inside a BAR's
dispatch. It does per bar only what the event needs: one payload dict, one metadata dict, one
``Event`` and one publish. Bars are pulled from their source one at a time (the source reads
or generates them in chunks), so the feed holds none of them, however long the run.
"""

from __future__ import annotations

from collections.abc import Callable

from eventstore import Event, EventType, TracedEventBus, UniversalContainer
from eventstore.backtest.market_data import Bars

ProgressCallback = Callable[[int], None]
"""Called with the number of bars published so far."""


class DataFeed(UniversalContainer):
    """Replays ``Bars`` onto the bus.

    The source is opened here, so a file that can't be read fails before the run starts.
    """

    def __init__(self, data: Bars, bus: TracedEventBus) -> None:
        super().__init__("DataFeed", {"symbols": data.symbols, "bars": data.total}, bus)
        self.data = data
        self.published = 0
        self._rows = iter(data)
        self._bus = bus

    def run(self, progress: ProgressCallback | None = None, every: int = 10_000) -> int:
        """Publish every bar; ``progress`` is called every ``every`` bars and at the end."""
        publish = self._bus.publish
        bar_type = EventType.BAR
        count = self.published
        report = count + every
        try:
            for when, symbol, open_, high, low, close, volume in self._rows:
                count += 1
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
                if count == report:
                    self.published = count
                    report += every
                    if progress is not None:
                        progress(count)
        finally:
            self.published = count
        if progress is not None:
            progress(count)
        return count
