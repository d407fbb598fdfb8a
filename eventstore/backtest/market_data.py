"""Market data for the feed: per-symbol OHLCV series, merged into one publish order.

Series are plain Python lists, not arrays or DataFrames: the feed reads one scalar at a time,
and indexing a list of floats is the cheapest way CPython has to do that (a numpy scalar would be
slower to read and to encode).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from eventstore.backtest.config import SyntheticData


@dataclass(slots=True)
class SymbolBars:
    """One symbol's bars, oldest first, timestamps strictly increasing."""

    symbol: str
    times: list[datetime] = field(default_factory=list)
    opens: list[float] = field(default_factory=list)
    highs: list[float] = field(default_factory=list)
    lows: list[float] = field(default_factory=list)
    closes: list[float] = field(default_factory=list)
    volumes: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.times)


@dataclass(slots=True)
class MarketData:
    """Every bar of a backtest, in the order the feed publishes them: by time, then by the
    symbols' configured order. ``rows[i]`` is ``(time, symbol, open, high, low, close, volume)``.
    """

    symbols: list[str]
    rows: list[tuple[datetime, str, float, float, float, float, float]]

    def __len__(self) -> int:
        return len(self.rows)


def merge(series: list[SymbolBars]) -> MarketData:
    """Interleave series by time (ties in the given symbol order); a symbol with no bar at a
    time is simply absent from it."""
    symbols = [s.symbol for s in series]
    if all(s.times is series[0].times for s in series):
        # Same clock (synthetic data): interleave step by step, no sort needed.
        columns = [
            zip(
                s.times,
                [s.symbol] * len(s),
                s.opens,
                s.highs,
                s.lows,
                s.closes,
                s.volumes,
                strict=True,
            )
            for s in series
        ]
        return MarketData(symbols, [row for step in zip(*columns, strict=True) for row in step])
    rank = {symbol: i for i, symbol in enumerate(symbols)}
    streams = [
        zip(
            s.times, [s.symbol] * len(s), s.opens, s.highs, s.lows, s.closes, s.volumes, strict=True
        )
        for s in series
    ]
    rows = list(heapq.merge(*streams, key=lambda row: (row[0], rank[row[1]])))
    return MarketData(symbols, rows)


def synthetic_bars(config: SyntheticData, bars: int, seed: int) -> MarketData:
    """``bars`` bars per symbol of a geometric random walk, deterministic in ``seed``.

    Each symbol draws from its own stream (seeded by ``seed`` and its position), so adding a
    symbol doesn't change the others. Prices are rounded to cents; high >= max(open, close),
    low <= min(open, close), volume > 0.
    """
    step = timedelta(seconds=config.interval_seconds)
    times = [config.start + i * step for i in range(bars)]
    dt = 1.0 / config.bars_per_year
    series: list[SymbolBars] = []
    for index, symbol in enumerate(config.symbols):
        rng = np.random.default_rng([seed, index])
        vol = config.annual_volatility * float(rng.uniform(0.6, 1.4)) * np.sqrt(dt)
        drift = (config.annual_drift - 0.5 * (vol * vol) / dt) * dt
        start = config.start_price * float(rng.uniform(0.5, 2.0))
        returns = drift + vol * rng.standard_normal(bars)
        gaps = 0.1 * vol * rng.standard_normal(bars)
        closes = start * np.exp(np.cumsum(returns))
        prev = np.concatenate(([start], closes[:-1]))
        opens = prev * np.exp(gaps)
        wick_up = np.exp(np.abs(rng.standard_normal(bars)) * 0.5 * vol)
        wick_down = np.exp(-np.abs(rng.standard_normal(bars)) * 0.5 * vol)
        opens, closes = np.round(opens, 2), np.round(closes, 2)
        highs = np.maximum(
            np.round(np.maximum(opens, closes) * wick_up, 2), np.maximum(opens, closes)
        )
        lows = np.minimum(
            np.round(np.minimum(opens, closes) * wick_down, 2), np.minimum(opens, closes)
        )
        lows = np.maximum(lows, 0.01)
        volumes = np.round(rng.lognormal(mean=8.0, sigma=0.5, size=bars)) + 1
        series.append(
            SymbolBars(
                symbol=symbol,
                times=times,
                opens=opens.tolist(),
                highs=highs.tolist(),
                lows=lows.tolist(),
                closes=closes.tolist(),
                volumes=volumes.tolist(),
            )
        )
    return merge(series)
