"""How two runs differ: configuration, counts, latencies, orders and fills, and the first
divergence."""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from eventstore.store import Store

from .configs import CONFIG_SCHEMA, config_differences, run_config
from .latency import STAT_COLUMNS, group_stats, stats_table
from .refs import RunRef, resolve_run
from .sampling import sampled_runs, with_sampled_flag
from .slices import Progress, part, seq_span, slice_seqs
from .sql_files import fetch_table
from .store_access import StoreLike, opened

_METRICS = ["deliveries", *STAT_COLUMNS]
"""The rows of a comparison's latency table, per event type, in order."""


@dataclass(frozen=True, slots=True)
class RunComparison:
    """Run A against run B: the configuration keys that differ, counts and latencies side by
    side, then what only one run did.

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
    """Orders and fills of one run with no identical counterpart in the other (the first
    ``unmatched_limit`` of them, by run then seq, when ``compare_runs`` was given one)."""
    divergence: pa.Table
    """The first differing event of each run side by side (at most one row)."""
    unmatched_count: int = 0
    """How many orders and fills have no counterpart, whatever ``unmatched`` holds."""
    config: pa.Table = field(default_factory=CONFIG_SCHEMA.empty_table)
    """The configuration keys whose values differ: ``key``, ``run_a``, ``run_b`` (values as
    text; null where a run has no such key). No row: the same configuration."""
    config_recorded: bool = True
    """False when neither run recorded a configuration (``EventTracer(config=…)``)."""

    @property
    def config_summary(self) -> str:
        """``config`` in a few words, as a heading or a verdict: "2 keys differ", "same
        configuration", or "neither run recorded a configuration"."""
        count = self.config.num_rows
        if count:
            return "1 key differs" if count == 1 else f"{count} keys differ"
        if self.config_recorded:
            return "same configuration"
        return "neither run recorded a configuration"

    @property
    def identical(self) -> bool:
        """Every seq agrees (type, simulated time, source, payload): no divergence, hence
        no unmatched trade either."""
        return bool(self.divergence.num_rows == 0 and self.unmatched_count == 0)


def compare_runs(
    store: StoreLike,
    run_a: str,
    run_b: str,
    *,
    unmatched_limit: int | None = None,
    progress: Progress | None = None,
) -> RunComparison:
    """Compare run A with run B (ids, prefixes or ``latest``); see ``RunComparison`` for
    what "the runs agree" means in every part. ``unmatched_limit`` keeps the first that
    many unmatched trades (a table that shows 50 need not hold the 600 000 of two long runs
    that share no trade; ``unmatched_count`` still counts them all). ``progress`` is told
    (work done, work in all) as the runs are read."""
    with opened(store) as db:
        a, b = _pair(db, run_a, run_b)
        config_a, config_b = run_config(db, a.run_id), run_config(db, b.run_id)
        params = {"run_a": a.run_id, "run_b": b.run_id}
        counts = fetch_table(db, "compare_counts", params)
        latency = _latency_side_by_side(db, a, b, part(progress, 0, 3))
        sampled = sampled_runs(db, [a.run_id, b.run_id])
        if sampled:
            for side, run in (("a", a.run_id), ("b", b.run_id)):
                out = sampled.get(run, {}).get("sampled_out", {})
                values = [int(out.get(kind, 0)) for kind in counts["event_type"].to_pylist()]
                counts = counts.append_column(f"sampled_out_{side}", pa.array(values, pa.int64()))
            latency = with_sampled_flag(latency, [True] * latency.num_rows)
        unmatched, count = _unmatched(db, a, b, unmatched_limit)
        _step_done(part(progress, 1, 3))
        return RunComparison(
            run_a=a.run_id,
            run_b=b.run_id,
            counts=counts,
            latency=latency,
            unmatched=unmatched,
            divergence=_first_divergence(db, a, b, part(progress, 2, 3)),
            unmatched_count=count,
            config=config_differences(config_a, config_b),
            config_recorded=bool(config_a or config_b),
        )


def first_divergence(store: StoreLike, run_a: str, run_b: str) -> pa.Table:
    """The first seq at which run A's and run B's events disagree (type, simulated time,
    source or payload), with both events (``a_*``, ``b_*`` columns); no row when they agree
    event for event."""
    with opened(store) as db:
        return _first_divergence(db, *_pair(db, run_a, run_b))


def unmatched_trades(store: StoreLike, run_a: str, run_b: str) -> pa.Table:
    """Orders and fills present in one run and not the other (matched by type, simulated time,
    source and payload), with ``only_in`` = ``a`` or ``b``."""
    with opened(store) as db:
        return _unmatched(db, *_pair(db, run_a, run_b), None)[0]


def _unmatched(db: Store, a: RunRef, b: RunRef, limit: int | None) -> tuple[pa.Table, int]:
    """The first ``limit`` (None: all) unmatched trades, and how many there are in all
    (at least one row is read, which carries the count)."""
    fetched = None if limit is None else max(limit, 1)
    params = {"run_a": a.run_id, "run_b": b.run_id, "limit": fetched}
    table = fetch_table(db, "unmatched_trades", params)
    count = int(table["unmatched"][0].as_py()) if table.num_rows else 0
    return table.drop_columns(["unmatched"]).slice(0, limit), count


def _first_divergence(
    db: Store, a: RunRef, b: RunRef, progress: Progress | None = None
) -> pa.Table:
    """``first_divergence.sql`` asked a seq range at a time from the first seq of either run
    to the last, until a range holds a divergence, which is the first: runs that differ early
    are answered from their first range. Ranges are a quarter of ``slice_seqs()``: the join
    holds both runs' payloads (measured on two runs of 5.5 million events, uncapped: 280 MB
    per million seqs; whole, 1.4 GB)."""
    spans = [seq_span(db, run) for run in (a, b)]
    firsts = [first for first, _ in spans if first is not None]
    lasts = [last for _, last in spans if last is not None]
    params = {"run_a": a.run_id, "run_b": b.run_id}
    if not firsts or not lasts:  # neither run stored an event: no divergence
        return fetch_table(db, "first_divergence", {**params, "low": 1, "high": 0})
    size = max(slice_seqs() // 4, 1)
    lows = range(min(firsts), max(lasts) + 1, size)
    found = pa.table({})
    for index, low in enumerate(lows, start=1):
        found = fetch_table(db, "first_divergence", {**params, "low": low, "high": low + size - 1})
        done = len(lows) if found.num_rows else index  # the ranges after it need no reading
        if progress is not None:
            progress(done, len(lows))
        if found.num_rows:
            break
    return found


def _step_done(progress: Progress | None) -> None:
    """Tell ``progress`` that its one step is done."""
    if progress is not None:
        progress(1, 1)


def _latency_side_by_side(
    db: Store, a: RunRef, b: RunRef, progress: Progress | None = None
) -> pa.Table:
    """Per event type (sorted) and metric (deliveries, then the percentile columns of
    ``latency_percentiles``), run A's value, run B's and the ratio b / a (None unless a > 0)."""
    runs = [a, b] if a != b else [a]
    stats = group_stats(db, runs, "type", per_run=True, progress=progress)
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
