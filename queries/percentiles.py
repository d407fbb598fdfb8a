"""Exact latency percentiles from counts of values, so no delivery is held to compute them.

A quantile aggregate (DuckDB's ``quantile_cont``, PostgreSQL's ``percentile_cont``) keeps every
value of its group until the end, and DuckDB cannot spill it: over the 21 million deliveries of
one 5.5-million-event run it held 0.9 GB (1.3 GB peak for the process), and it grows with every
run of a sweep. Latencies are whole nanoseconds that repeat: that run's deliveries take about
30 000 distinct values per metric. So SQL counts how many deliveries took each value, one slice
of a run at a time (``latency_counts.sql``), the counts of all slices and runs are merged here,
and each percentile is read off the merged counts.

The interpolation is PostgreSQL's (``percentile_cont``) and numpy's default: for a fraction q of
n values, the rank is pos = (n - 1) * q, lo and hi are the values at ranks floor(pos) and
ceil(pos), and the percentile is lo + (hi - lo) * (pos - floor(pos)), in doubles, in that
order. DuckDB's ``quantile_cont`` computes lo * (1 - d) + hi * d instead (its x86-64 build
fuses it into one multiply-add), which differs from this in the last bit of about one value in
fifteen; DuckDB and PostgreSQL stores now answer alike to the bit. NULL latencies count as
deliveries and are left out of percentiles and maxima, as the aggregates leave out NULLs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

FRACTIONS = (0.5, 0.9, 0.99)
METRICS = ("queue", "handle")
"""Metric 0 and 1 of ``latency_counts.sql``: queueing and handling."""

_KEYS = ["group", "key", "metric", "ns"]
_SCHEMA = pa.schema(
    [
        ("group", pa.string()),
        ("key", pa.string()),
        ("metric", pa.int8()),
        ("ns", pa.int64()),
        ("deliveries", pa.int64()),
    ]
)
MERGE_ROWS = 1_000_000
"""Rows of counts kept unmerged at most: merging folds them to one row per distinct value."""


@dataclass(frozen=True, slots=True)
class GroupStats:
    """One group's deliveries, and per metric its percentiles and maximum (ns; None when no
    delivery of the group has that latency)."""

    group: str | None
    key: str | None
    deliveries: int
    percentiles: dict[str, tuple[float | None, ...]]
    maxima: dict[str, int | None]


class LatencyCounts:
    """Counts of latency values per group (a run, or None when runs are pooled), key and
    metric, merged as slices come in."""

    def __init__(self) -> None:
        self._parts: list[pa.Table] = []
        self._rows = 0

    def add(self, group: str | None, counts: pa.Table) -> None:
        """Add the rows of ``latency_counts.sql`` (``key``, ``metric``, ``ns``,
        ``deliveries``) under ``group``."""
        columns = [pa.array([group] * counts.num_rows, pa.string())]
        columns += [counts[name].cast(_SCHEMA.field(name).type) for name in _SCHEMA.names[1:]]
        self._parts.append(pa.Table.from_arrays(columns, schema=_SCHEMA))
        self._rows += counts.num_rows
        if self._rows > MERGE_ROWS:
            self._parts = [self._merged()]
            self._rows = self._parts[0].num_rows

    def _merged(self) -> pa.Table:
        if not self._parts:
            return _SCHEMA.empty_table()
        table = pa.concat_tables(self._parts)
        summed = table.group_by(_KEYS, use_threads=False).aggregate([("deliveries", "sum")])
        return summed.select([*_KEYS, "deliveries_sum"]).rename_columns(_SCHEMA.names)

    def stats(self) -> list[GroupStats]:
        """Each (group, key), sorted by group then key (None last), with its statistics."""
        merged = self._merged().sort_by([(name, "ascending") for name in _KEYS])
        first = merged.filter(pc.equal(merged["metric"], 0))
        totals = first.group_by(["group", "key"], use_threads=False).aggregate(
            [("deliveries", "sum")]
        )
        known = merged.filter(pc.is_valid(merged["ns"]))
        values = known.group_by(["group", "key", "metric"], use_threads=False).aggregate(
            [("ns", "list"), ("deliveries", "list")]
        )
        found: dict[tuple[str | None, str | None, int], tuple[np.ndarray, np.ndarray]] = {}
        for index, (group, key, metric) in enumerate(
            zip(
                values["group"].to_pylist(),
                values["key"].to_pylist(),
                values["metric"].to_pylist(),
                strict=True,
            )
        ):
            ns = values["ns_list"][index].values.to_numpy()
            counts = values["deliveries_list"][index].values.to_numpy()
            found[(group, key, metric)] = (ns, counts)
        result = []
        for group, key, deliveries in zip(
            totals["group"].to_pylist(),
            totals["key"].to_pylist(),
            totals["deliveries_sum"].to_pylist(),
            strict=True,
        ):
            percentiles: dict[str, tuple[float | None, ...]] = {}
            maxima: dict[str, int | None] = {}
            for metric, name in enumerate(METRICS):
                ns, counts = found.get((group, key, metric), (np.empty(0), np.empty(0)))
                percentiles[name] = tuple(quantile(ns, counts, q) for q in FRACTIONS)
                maxima[name] = int(ns[-1]) if len(ns) else None
            result.append(GroupStats(group, key, int(deliveries), percentiles, maxima))
        return result


def quantile(values: np.ndarray, counts: np.ndarray, q: float) -> float | None:
    """The q-quantile of ``values`` (sorted ascending, distinct) each taken ``counts`` times,
    interpolated as ``quantile_cont`` does; None when there are none."""
    cumulative = np.cumsum(counts)
    if not len(cumulative):
        return None
    n = int(cumulative[-1])
    pos = float(n - 1) * q
    low, high = math.floor(pos), math.ceil(pos)

    def at(rank: int) -> float:
        return float(int(values[int(np.searchsorted(cumulative, rank, side="right"))]))

    if low == high:
        return at(low)
    lo, hi = at(low), at(high)
    return lo + (hi - lo) * (pos - low)
