"""How two runs differ: counts, latencies, orders and fills, and the first divergence."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from eventstore.store import Store

from .latency import STAT_COLUMNS, group_stats, stats_table
from .refs import RunRef, resolve_run
from .sampling import sampled_runs, with_sampled_flag
from .sql_files import fetch_table
from .store_access import StoreLike, opened


@dataclass(frozen=True, slots=True)
class RunComparison:
    """Run A against run B: counts and latencies side by side, then what only one run did.

    One definition of agreement holds for every part: two events *agree* when their type,
    simulated time, source and payload are equal (ids and wall-clock times always differ
    between runs). ``unmatched`` lists the orders and fills with no agreeing counterpart in
    the other run; ``divergence`` is the first seq at which the runs' events don't agree; the
    runs are ``identical`` when every seq agrees, which implies no unmatched trade and equal
    counts. Latencies are measurements, never part of agreement."""

    run_a: str
    run_b: str
    counts: pa.Table
    """Per event type: ``run_a``, ``run_b`` counts and ``difference`` (b - a); when a run was
    sampled, its events left out per type as ``sampled_out_a``/``sampled_out_b``."""
    latency: pa.Table
    """Per event type and metric: ``run_a``, ``run_b`` values (ms) and ``ratio`` (b / a);
    ``sampled`` when either run was sampled."""
    unmatched: pa.Table
    """Orders and fills of one run with no identical counterpart in the other."""
    divergence: pa.Table
    """The first differing event of each run side by side (at most one row)."""

    @property
    def identical(self) -> bool:
        """Every seq agrees (type, simulated time, source, payload): no divergence, hence
        no unmatched trade either."""
        return bool(self.divergence.num_rows == 0 and self.unmatched.num_rows == 0)


def compare_runs(store: StoreLike, run_a: str, run_b: str) -> RunComparison:
    """Compare run A with run B (ids, prefixes or ``latest``); see ``RunComparison`` for
    what "the runs agree" means in every part."""
    with opened(store) as db:
        a, b = _pair(db, run_a, run_b)
        params = {"run_a": a.run_id, "run_b": b.run_id}
        counts = fetch_table(db, "compare_counts", params)
        latency = _latency_side_by_side(db, a, b)
        sampled = sampled_runs(db, [a.run_id, b.run_id])
        if sampled:
            for side, run in (("a", a.run_id), ("b", b.run_id)):
                out = sampled.get(run, {}).get("sampled_out", {})
                values = [int(out.get(kind, 0)) for kind in counts["event_type"].to_pylist()]
                counts = counts.append_column(f"sampled_out_{side}", pa.array(values, pa.int64()))
            latency = with_sampled_flag(latency, [True] * latency.num_rows)
        return RunComparison(
            run_a=a.run_id,
            run_b=b.run_id,
            counts=counts,
            latency=latency,
            unmatched=fetch_table(db, "unmatched_trades", params),
            divergence=fetch_table(db, "first_divergence", params),
        )


def first_divergence(store: StoreLike, run_a: str, run_b: str) -> pa.Table:
    """The first seq at which run A's and run B's events disagree (type, simulated time,
    source or payload), with both events (``a_*``, ``b_*`` columns); no row when they agree
    event for event."""
    with opened(store) as db:
        a, b = _pair(db, run_a, run_b)
        return fetch_table(db, "first_divergence", {"run_a": a.run_id, "run_b": b.run_id})


def unmatched_trades(store: StoreLike, run_a: str, run_b: str) -> pa.Table:
    """Orders and fills present in one run and not the other (matched by type, simulated time,
    source and payload), with ``only_in`` = ``a`` or ``b``."""
    with opened(store) as db:
        a, b = _pair(db, run_a, run_b)
        return fetch_table(db, "unmatched_trades", {"run_a": a.run_id, "run_b": b.run_id})


_METRICS = ["deliveries", *STAT_COLUMNS]


def _latency_side_by_side(db: Store, a: RunRef, b: RunRef) -> pa.Table:
    """Per event type (sorted) and metric (deliveries, then the percentile columns of
    ``latency_percentiles``), run A's value, run B's and the ratio b / a (None unless a > 0)."""
    stats = group_stats(db, [a, b] if a != b else [a], "type", per_run=True)
    values: dict[tuple[str, str | None], list[float | None]] = {}
    for row in stats_table(stats, "event_type").to_pylist():
        values[(row["run_id"], row["event_type"])] = [row[m] for m in _METRICS]
    types = sorted({kind for _, kind in values}, key=lambda kind: (kind is None, kind or ""))
    rows: dict[str, list[object]] = {"event_type": [], "metric": [], "run_a": [], "run_b": []}
    ratios: list[float | None] = []
    for kind in types:
        side_a, side_b = values.get((a.run_id, kind)), values.get((b.run_id, kind))
        for index, metric in enumerate(_METRICS):
            value_a = None if side_a is None else side_a[index]
            value_b = None if side_b is None else side_b[index]
            rows["event_type"].append(kind)
            rows["metric"].append(metric)
            rows["run_a"].append(None if value_a is None else float(value_a))
            rows["run_b"].append(None if value_b is None else float(value_b))
            ratio = None
            if value_a is not None and value_a > 0 and value_b is not None:
                ratio = float(value_b) / float(value_a)
            ratios.append(ratio)
    return pa.table(
        {
            "event_type": pa.array(rows["event_type"], pa.string()),
            "metric": pa.array(rows["metric"], pa.string()),
            "run_a": pa.array(rows["run_a"], pa.float64()),
            "run_b": pa.array(rows["run_b"], pa.float64()),
            "ratio": pa.array(ratios, pa.float64()),
        }
    )


def _pair(db: Store, run_a: str, run_b: str) -> tuple[RunRef, RunRef]:
    return resolve_run(db, run_a), resolve_run(db, run_b)
