"""Percentiles read off merged counts of latency values equal numpy's over the values
themselves, however the counts were cut into slices and whatever order they came in."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pytest
from eventstore.queries.percentiles import FRACTIONS, MERGE_ROWS, LatencyCounts
from hypothesis import given, settings
from hypothesis import strategies as st

Latencies = dict[str, list[int | None]]  # key -> one metric's latencies (ns), None: unknown


def counts_of(values: list[tuple[str, int | None]], metric: int) -> pa.Table:
    """What ``latency_counts.sql`` returns for these (key, latency) deliveries."""
    seen: dict[tuple[str, int | None], int] = {}
    for key, ns in values:
        seen[(key, ns)] = seen.get((key, ns), 0) + 1
    return pa.table(
        {
            "key": [k for k, _ in seen],
            "metric": pa.array([metric] * len(seen), pa.int32()),
            "ns": pa.array([ns for _, ns in seen], pa.int64()),
            "deliveries": pa.array(list(seen.values()), pa.int64()),
        }
    )


def fed(latencies: Latencies, slices: int, seed: int) -> LatencyCounts:
    """The deliveries of ``latencies`` (both metrics alike) cut into ``slices`` slices in a
    shuffled order, each slice's counts added as the SQL gives them."""
    deliveries = [(key, ns) for key, values in latencies.items() for ns in values]
    random.Random(seed).shuffle(deliveries)
    counts = LatencyCounts()
    for index in range(slices):
        part = deliveries[index::slices]
        for metric in (0, 1):
            counts.add(None, counts_of(part, metric))
    return counts


latency_lists = st.dictionaries(
    st.sampled_from(["BAR", "FILL", "ORDER"]),
    st.lists(st.one_of(st.none(), st.integers(0, 10**12)), min_size=1, max_size=300),
    min_size=1,
)


@settings(max_examples=150, deadline=None)
@given(latency_lists, st.integers(1, 9), st.integers(0, 1000))
def test_percentiles_of_counts_equal_numpys_over_the_values(
    latencies: Latencies, slices: int, seed: int
) -> None:
    stats = {s.key: s for s in fed(latencies, slices, seed).stats()}
    assert list(stats) == sorted(latencies)
    for key, values in latencies.items():
        known = np.array([v for v in values if v is not None], dtype=np.float64)
        got = stats[key]
        assert got.deliveries == len(values)
        for metric in ("queue", "handle"):
            if not len(known):
                assert got.percentiles[metric] == (None,) * len(FRACTIONS)
                assert got.maxima[metric] is None
                continue
            want = [float(np.percentile(known, q * 100)) for q in FRACTIONS]
            assert got.percentiles[metric] == pytest.approx(want, rel=1e-12, abs=1e-9)
            assert got.maxima[metric] == max(v for v in values if v is not None)


@settings(max_examples=50, deadline=None)
@given(latency_lists, st.integers(1, 9), st.integers(0, 1000))
def test_the_slicing_never_changes_a_bit(latencies: Latencies, slices: int, seed: int) -> None:
    assert fed(latencies, slices, seed).stats() == fed(latencies, 1, 0).stats()


def test_counts_merge_as_they_pass_the_merge_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    latencies: Latencies = {"BAR": list(range(500)) * 3, "FILL": [7, None, 7, 9]}
    whole = fed(latencies, 1, 0).stats()
    monkeypatch.setattr("eventstore.queries.percentiles.MERGE_ROWS", 10)
    assert MERGE_ROWS > 10
    assert fed(latencies, 40, 3).stats() == whole


def test_groups_sort_by_run_then_key_with_none_last() -> None:
    counts = LatencyCounts()
    for group in ("run-b", None, "run-a"):
        for key in ("x", None, "a"):
            counts.add(group, counts_of([(key, 5)], 0))  # type: ignore[list-item]
            counts.add(group, counts_of([(key, 6)], 1))  # type: ignore[list-item]
    order = [(s.group, s.key) for s in counts.stats()]
    runs = ["run-a", "run-b", None]
    assert order == [(g, k) for g in runs for k in ("a", "x", None)]
