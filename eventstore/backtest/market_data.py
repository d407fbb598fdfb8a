"""Market data for the feed: bars as one stream in publish order, read or generated lazily.

A backtest may run millions of bars, so no source holds them all: each symbol's bars come in
chunks (a file read line by line, a Parquet batch, a block of random draws) and the symbols are
merged by time with a heap, so memory is flat in the number of bars and the first bar is
published at once. ``MarketData`` (every row in a list) remains for small, hand-made data.

Rows are plain tuples of Python scalars, not arrays or DataFrames: the feed reads one scalar at a
time, and a tuple of floats is the cheapest thing CPython has to read and encode.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

Row = tuple[datetime, str, float, float, float, float, float]
"""One bar: ``(time, symbol, open, high, low, close, volume)``."""

FIRST_ROWS = 1_000
"""Rows a file reader reads and checks when it is opened (CSV and Parquet alike), so a file
broken from the start fails before a run exists, not as a ``failed`` run."""


class Bars(Protocol):
    """What the feed replays: the symbols, how many bars in all if known up front (for a
    progress bar), and the rows in publish order: by time, then by the symbols' order."""

    @property
    def symbols(self) -> list[str]: ...

    @property
    def total(self) -> int | None: ...

    def __iter__(self) -> Iterator[Row]: ...


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

    def rows(self) -> Iterator[Row]:
        symbol = [self.symbol] * len(self)
        columns = (self.opens, self.highs, self.lows, self.closes, self.volumes)
        return zip(self.times, symbol, *columns, strict=True)


@dataclass(slots=True)
class MarketData:
    """Every bar of a backtest held in memory, in publish order (tests and small data)."""

    symbols: list[str]
    rows: list[Row]

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def total(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[Row]:
        return iter(self.rows)


@dataclass(frozen=True, slots=True)
class BarStream:
    """Bars produced on demand: each iteration calls ``open``, which does its checks and first
    reads at once (so a bad file fails before a run starts) and returns a lazy iterator."""

    symbols: list[str]
    total: int | None
    open: Callable[[], Iterator[Row]]

    def __iter__(self) -> Iterator[Row]:
        return self.open()

    def collect(self) -> MarketData:
        """Every bar in memory (for small data only)."""
        return MarketData(list(self.symbols), list(self.open()))


def merge(series: list[SymbolBars]) -> MarketData:
    """Interleave in-memory series by time (ties in the given symbol order)."""
    symbols = [s.symbol for s in series]
    return MarketData(symbols, list(merge_rows(symbols, [s.rows() for s in series])))


def merge_rows(symbols: list[str], streams: Sequence[Iterable[Row]]) -> Iterator[Row]:
    """Merge per-symbol streams (each in time order) by time, ties in ``symbols`` order; a
    symbol with no bar at a time is simply absent from it. Holds one row per stream."""
    if len(streams) == 1:
        return iter(streams[0])
    rank = {symbol: i for i, symbol in enumerate(symbols)}
    return heapq.merge(*streams, key=lambda row: (row[0], rank[row[1]]))
