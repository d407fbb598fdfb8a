"""Seeded random-walk OHLCV bars, generated in chunks as the feed asks for them.

Each symbol draws from its own stream (seeded by the seed and the symbol's position), so adding a
symbol doesn't change the others. A symbol's bars are drawn in blocks of up to ``BLOCK_BARS``:
within a block, first every return, then every open gap, upper wick, lower wick and volume, the
order the generator has always used (so runs of up to ``BLOCK_BARS`` bars per symbol have the
values they always had). To stream a block without holding it, each of the five draws gets its
own copy of the generator, moved to where that draw starts by drawing and dropping the values
before it: about 0.1 s per million bars per symbol, once per block.

Prices are rounded to cents, at least one cent; high >= max(open, close), low <= min(open,
close), volume > 0.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from itertools import chain, repeat

import numpy as np

from eventstore.backtest.config import SyntheticData
from eventstore.backtest.market_data import BarStream, MarketData, Row

BLOCK_BARS = 2**21
"""Bars per symbol drawn as one block (2,097,152): bounds the draws skipped before a block's
first bar, and so the wait before the first event."""

CHUNK_BARS = 16_384
"""Bars per symbol computed at a time: large enough for numpy to pay, small enough to be flat."""

_SKIP_CHUNK = 65_536


def synthetic_stream(config: SyntheticData, bars: int, seed: int) -> BarStream:
    """``bars`` bars per symbol, deterministic in ``seed``, produced as they are read."""
    symbols = list(config.symbols)
    return BarStream(symbols, bars * len(symbols), lambda: _rows(config, bars, seed))


def synthetic_bars(config: SyntheticData, bars: int, seed: int) -> MarketData:
    """The same bars as ``synthetic_stream``, all in memory (for small runs and tests)."""
    return synthetic_stream(config, bars, seed).collect()


def _rows(config: SyntheticData, bars: int, seed: int) -> Iterator[Row]:
    walks = [_RandomWalk(config, seed, index, bars) for index in range(len(config.symbols))]
    step = timedelta(seconds=config.interval_seconds)

    def generate() -> Iterator[list[Row]]:
        for first in range(0, bars, CHUNK_BARS):
            count = min(CHUNK_BARS, bars - first)
            times = [config.start + i * step for i in range(first, first + count)]
            columns = [
                zip(times, repeat(symbol, count), *walk.next(count), strict=True)
                for symbol, walk in zip(config.symbols, walks, strict=True)
            ]
            # All symbols share one clock: interleave step by step, no sort needed.
            yield [row for step_rows in zip(*columns, strict=True) for row in step_rows]

    return chain.from_iterable(generate())


class _RandomWalk:
    """One symbol's geometric random walk, ``count`` bars at a time."""

    def __init__(self, config: SyntheticData, seed: int, index: int, bars: int) -> None:
        rng = np.random.default_rng([seed, index])
        dt = 1.0 / config.bars_per_year
        self.vol = vol = config.annual_volatility * float(rng.uniform(0.6, 1.4)) * np.sqrt(dt)
        self.drift = (config.annual_drift - 0.5 * (vol * vol) / dt) * dt
        self.start = config.start_price * float(rng.uniform(0.5, 2.0))
        self.rng = rng
        self.remaining = bars  # bars not yet assigned to a block
        self.left_in_block = 0
        self.draws: list[np.random.Generator] = []
        self.level: float | None = None  # cumulative log return so far
        self.close = self.start  # the previous bar's close, unrounded

    def _next_block(self) -> None:
        size = min(BLOCK_BARS, self.remaining)
        self.remaining -= size
        self.left_in_block = size
        rng, draws = self.rng, []
        for _ in range(4):  # returns, gaps, upper wicks, lower wicks
            draws.append(_copy(rng))
            _skip_normals(rng, size)
        draws.append(rng)  # volumes: left where the next block starts once they are drawn
        self.draws = draws

    def next(self, count: int) -> tuple[list[float], ...]:
        """The next ``count`` bars' open, high, low, close and volume columns."""
        if not self.left_in_block:
            self._next_block()
        if count > self.left_in_block:  # a chunk straddling blocks: two parts
            head = self.left_in_block
            first, second = self.next(head), self.next(count - head)
            return tuple(a + b for a, b in zip(first, second, strict=True))
        self.left_in_block -= count
        vol = self.vol
        returns_rng, gaps_rng, up_rng, down_rng, volumes_rng = self.draws
        returns = self.drift + vol * returns_rng.standard_normal(count)
        gaps = 0.1 * vol * gaps_rng.standard_normal(count)
        # cumsum adds left to right, so carrying the running total keeps every value exact.
        if self.level is None:
            levels = np.cumsum(returns)
        else:
            levels = np.cumsum(np.concatenate(([self.level], returns)))[1:]
        self.level = float(levels[-1])
        closes = self.start * np.exp(levels)
        previous = np.concatenate(([self.close], closes[:-1]))
        self.close = float(closes[-1])
        opens = previous * np.exp(gaps)
        wick_up = np.exp(np.abs(up_rng.standard_normal(count)) * 0.5 * vol)
        wick_down = np.exp(-np.abs(down_rng.standard_normal(count)) * 0.5 * vol)
        # At least a cent, as lows are: a walk that falls far would round to 0.00, a price
        # nothing can be sized against (and that data files may not hold).
        opens = np.maximum(np.round(opens, 2), 0.01)
        closes = np.maximum(np.round(closes, 2), 0.01)
        tops, bottoms = np.maximum(opens, closes), np.minimum(opens, closes)
        highs = np.maximum(np.round(tops * wick_up, 2), tops)
        lows = np.maximum(np.minimum(np.round(bottoms * wick_down, 2), bottoms), 0.01)
        volumes = np.round(volumes_rng.lognormal(mean=8.0, sigma=0.5, size=count)) + 1
        return (
            opens.tolist(),
            highs.tolist(),
            lows.tolist(),
            closes.tolist(),
            volumes.tolist(),
        )


def _copy(rng: np.random.Generator) -> np.random.Generator:
    bits = type(rng.bit_generator)()
    bits.state = rng.bit_generator.state
    return np.random.Generator(bits)


def _skip_normals(rng: np.random.Generator, count: int) -> None:
    """Advance ``rng`` past ``count`` normal draws (a normal consumes a variable number of
    random bits, so the only way past them is to draw them)."""
    scratch = np.empty(min(count, _SKIP_CHUNK))
    while count > 0:
        take = min(count, _SKIP_CHUNK)
        rng.standard_normal(out=scratch[:take])
        count -= take
