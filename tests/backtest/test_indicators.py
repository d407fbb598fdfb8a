"""Incremental indicators agree with recomputing each window from scratch."""

from __future__ import annotations

import statistics

from hypothesis import given
from hypothesis import strategies as st

from eventstore.backtest.indicators import RollingExtremes, RollingZScore, SimpleMovingAverage

prices = st.lists(st.floats(min_value=1, max_value=1_000), min_size=1, max_size=80)
lengths = st.integers(min_value=2, max_value=12)


@given(prices, lengths)
def test_sma_matches_the_window_mean(values: list[float], length: int) -> None:
    sma = SimpleMovingAverage(length)
    for i, value in enumerate(values):
        got = sma.update(value)
        if i + 1 < length:
            assert got is None
        else:
            expected = statistics.fmean(values[i + 1 - length : i + 1])
            assert got is not None
            assert abs(got - expected) <= 1e-9 * max(values)


@given(prices, lengths)
def test_extremes_match_the_window(values: list[float], length: int) -> None:
    channel = RollingExtremes(length)
    for i, value in enumerate(values):
        got = channel.update(value + 1, value - 0.5)
        window = values[max(0, i + 1 - length) : i + 1]
        if i + 1 < length:
            assert got is None
        else:
            assert got == (max(window) + 1, min(window) - 0.5)


@given(prices, st.integers(min_value=3, max_value=12))
def test_zscore_matches_the_window(values: list[float], length: int) -> None:
    zscore = RollingZScore(length)
    for i, value in enumerate(values):
        got = zscore.update(value)
        window = values[max(0, i + 1 - length) : i + 1]
        if i + 1 < length:
            assert got is None
            continue
        stdev = statistics.stdev(window)
        if got is None:
            assert stdev < 1e-5
            continue
        z, mean = got
        assert abs(mean - statistics.fmean(window)) <= 1e-6 * max(window)
        if stdev > 1e-3:
            assert abs(z - (value - statistics.fmean(window)) / stdev) <= 1e-5 * (1 + abs(z))
