"""Strategies: containers that read BARs and publish SIGNALs.

A signal states the position a strategy wants in a symbol (``LONG``, ``SHORT`` or ``FLAT``), not
a quantity: sizing and limits are the risk container's job. A strategy signals only when its
wanted position changes, so every signal is a decision worth tracing.
"""

from __future__ import annotations

from typing import Any

from eventstore import Event, EventType, TracedEventBus, UniversalContainer
from eventstore.backtest.config import (
    Breakout,
    MeanReversion,
    MovingAverageCrossover,
    StrategyConfig,
)
from eventstore.backtest.indicators import RollingExtremes, RollingZScore, SimpleMovingAverage

LONG, FLAT, SHORT = 1, 0, -1
DIRECTIONS = {LONG: "LONG", FLAT: "FLAT", SHORT: "SHORT"}

Decision = tuple[int, float, dict[str, float]]
"""(wanted position, strength, indicator values that led to it)."""


class CrossoverState:
    """Per symbol: long after the fast average crosses above the slow one, short after below."""

    __slots__ = ("fast", "slow", "wanted")

    def __init__(self, config: MovingAverageCrossover) -> None:
        self.fast = SimpleMovingAverage(config.fast)
        self.slow = SimpleMovingAverage(config.slow)
        self.wanted = FLAT

    def update(self, high: float, low: float, close: float) -> Decision | None:
        fast = self.fast.update(close)
        slow = self.slow.update(close)
        if slow is None or fast is None or fast == slow:
            return None
        side = LONG if fast > slow else SHORT
        if side == self.wanted:
            return None
        crossed = self.wanted != FLAT  # the first relation seen is not a cross
        self.wanted = side
        if not crossed:
            return None
        return side, (fast - slow) / slow, {"fast_sma": fast, "slow_sma": slow}


class MeanReversionState:
    """Per symbol: fade moves beyond ``entry_z`` deviations, close once back within ``exit_z``."""

    __slots__ = ("entry_z", "exit_z", "wanted", "zscore")

    def __init__(self, config: MeanReversion) -> None:
        self.zscore = RollingZScore(config.window)
        self.entry_z = config.entry_z
        self.exit_z = config.exit_z
        self.wanted = FLAT

    def update(self, high: float, low: float, close: float) -> Decision | None:
        stats = self.zscore.update(close)
        if stats is None:
            return None
        z, mean = stats
        if z <= -self.entry_z:
            side = LONG
        elif z >= self.entry_z:
            side = SHORT
        elif -self.exit_z <= z <= self.exit_z:
            side = FLAT
        else:
            return None
        if side == self.wanted:
            return None
        self.wanted = side
        return side, -z, {"zscore": z, "mean": mean}


class BreakoutState:
    """Per symbol: long when the close clears the previous window's highest high, short when
    it falls through its lowest low."""

    __slots__ = ("channel", "previous", "wanted")

    def __init__(self, config: Breakout) -> None:
        self.channel = RollingExtremes(config.window)
        self.previous: tuple[float, float] | None = None
        self.wanted = FLAT

    def update(self, high: float, low: float, close: float) -> Decision | None:
        previous = self.previous
        self.previous = self.channel.update(high, low)
        if previous is None:
            return None
        upper, lower = previous
        if close > upper:
            side = LONG
        elif close < lower:
            side = SHORT
        else:
            return None
        if side == self.wanted:
            return None
        self.wanted = side
        edge = upper if side == LONG else lower
        return side, (close - edge) / edge, {"upper": upper, "lower": lower}


_STATES: dict[str, Any] = {
    "moving_average_crossover": CrossoverState,
    "mean_reversion": MeanReversionState,
    "breakout": BreakoutState,
}


class Strategy(UniversalContainer):
    """One configured strategy over its symbols; publishes a SIGNAL caused by the BAR that
    changed its mind."""

    def __init__(self, config: StrategyConfig, symbols: list[str], bus: TracedEventBus) -> None:
        super().__init__(f"Strategy:{config.label}", config.model_dump(), bus)
        self.label = config.label
        self.kind = config.type
        state = _STATES[config.type]
        self._states = {symbol: state(config) for symbol in symbols}
        self._bus = bus
        self.signals = 0
        bus.subscribe(EventType.BAR, self.on_bar)

    def on_bar(self, bar: Event) -> None:
        payload = bar.payload
        symbol = payload["symbol"]
        state = self._states.get(symbol)
        if state is None:
            return
        decision = state.update(payload["high"], payload["low"], payload["close"])
        if decision is None:
            return
        side, strength, indicators = decision
        self.signals += 1
        signal = Event(
            EventType.SIGNAL,
            bar.timestamp,
            {
                "symbol": symbol,
                "strategy": self.label,
                "strategy_type": self.kind,
                "direction": DIRECTIONS[side],
                "strength": strength,
                "price": payload["close"],
                **indicators,
            },
            {"partition_key": symbol},
        )
        self._bus.publish(signal, self)
