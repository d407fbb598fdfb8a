"""Rolling indicators updated in O(1) per bar.

A strategy sees one bar at a time; recomputing a window on every bar would make a backtest's cost
grow with the window. Each indicator keeps just enough state (a running sum, a monotonic deque)
to produce its next value from the previous one. Each ``update`` returns None until the window
is full.
"""

from __future__ import annotations

import math
from collections import deque


class SimpleMovingAverage:
    """The mean of the last ``length`` values."""

    __slots__ = ("_sum", "_values", "length")

    def __init__(self, length: int) -> None:
        self.length = length
        self._values: deque[float] = deque()
        self._sum = 0.0

    def update(self, value: float) -> float | None:
        values = self._values
        values.append(value)
        self._sum += value
        if len(values) > self.length:
            self._sum -= values.popleft()
        elif len(values) < self.length:
            return None
        return self._sum / self.length


class RollingZScore:
    """How many sample standard deviations ``value`` is from the mean of the last ``length``
    values (itself included); None while the window fills or if the window is flat.

    Sums are taken of ``value - anchor`` (the first value seen), which keeps the variance
    exact enough for prices that move little relative to their level.
    """

    __slots__ = ("_anchor", "_sum", "_sum_sq", "_values", "length")

    def __init__(self, length: int) -> None:
        self.length = length
        self._values: deque[float] = deque()
        self._sum = 0.0
        self._sum_sq = 0.0
        self._anchor: float | None = None

    def update(self, value: float) -> tuple[float, float] | None:
        """``(z, mean)`` of the window ending at ``value``."""
        anchor = self._anchor
        if anchor is None:
            anchor = self._anchor = value
        x = value - anchor
        values = self._values
        values.append(x)
        self._sum += x
        self._sum_sq += x * x
        n = self.length
        if len(values) > n:
            old = values.popleft()
            self._sum -= old
            self._sum_sq -= old * old
        elif len(values) < n:
            return None
        mean = self._sum / n
        variance = (self._sum_sq - mean * self._sum) / (n - 1)
        if variance <= 1e-12:
            return None
        return (x - mean) / math.sqrt(variance), mean + anchor


class RollingExtremes:
    """Highest high and lowest low of the last ``length`` bars, each in amortised O(1) with a
    monotonic deque of (index, value)."""

    __slots__ = ("_count", "_highs", "_lows", "length")

    def __init__(self, length: int) -> None:
        self.length = length
        self._highs: deque[tuple[int, float]] = deque()
        self._lows: deque[tuple[int, float]] = deque()
        self._count = 0

    def update(self, high: float, low: float) -> tuple[float, float] | None:
        """``(highest, lowest)`` of the window ending with this bar."""
        index = self._count
        self._count = index + 1
        highs, lows = self._highs, self._lows
        while highs and highs[-1][1] <= high:
            highs.pop()
        highs.append((index, high))
        while lows and lows[-1][1] >= low:
            lows.pop()
        lows.append((index, low))
        start = index - self.length + 1
        if highs[0][0] < start:
            highs.popleft()
        if lows[0][0] < start:
            lows.popleft()
        if start < 0:
            return None
        return highs[0][1], lows[0][1]
