"""Where the time went: latency percentiles of handler deliveries across runs.

Percentiles are exact and computed from counts of latency values, a slice of a run at a time
(``percentiles.py``, ``slices.py``): memory stays bounded by a slice and by the number of
distinct latencies, however many deliveries the runs hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import pyarrow as pa

from eventstore.errors import QueryError
from eventstore.store import Store
from eventstore.values import snap

from .percentiles import FRACTIONS, METRICS, GroupStats, LatencyCounts
from .refs import RunRef, all_runs, resolve_run, resolve_runs
from .sampling import sampled_runs, with_sampled_flag
from .slices import Progress, reported, run_slices
from .sql_files import fetch_table
from .store_access import StoreLike, opened

GroupBy = Literal["type", "handler", "source"]
GroupName = Literal[GroupBy, "event_type"]
"""A grouping by its short name or by its output column's name."""
_KEY_COLUMN: dict[GroupBy, str] = {"type": "event_type", "handler": "handler", "source": "source"}
GROUP_CHOICES = "type (or event_type), handler or source"
"""The groupings as ``--by`` help and errors name them."""


def latency_group(name: str) -> GroupBy:
    """The grouping named by its short name or by the column the output names it in
    (``event_type`` is ``type``), in any case; anything else is a ``QueryError``."""
    chosen = name.strip().lower()
    for group, column in _KEY_COLUMN.items():
        if chosen in (group, column):
            return group
    raise QueryError(f"cannot group latencies by {name!r}: use {GROUP_CHOICES}")


STAT_COLUMNS = [
    f"{metric}_{name}_ms"
    for metric in METRICS
    for name in [*(f"p{round(q * 100)}" for q in FRACTIONS), "max"]
]
"""``queue_p50_ms``, ``queue_p90_ms``, ``queue_p99_ms``, ``queue_max_ms``, then ``handle_…``."""


def latency_percentiles(
    store: StoreLike,
    run_ids: str | Sequence[str] = (),
    *,
    by: GroupName = "type",
    per_run: bool = False,
    progress: Progress | None = None,
) -> pa.Table:
    """p50/p90/p99/max (ms) and counts of queueing (emitted → received) and handling
    (received → processed) per event type, handler or source container (``by``: ``type``,
    also named ``event_type`` as its column is, ``handler`` or ``source``).

    ``run_ids`` are ids, prefixes or ``latest``; none means every run in the store (a store
    without runs is a ``QueryError``, as ``latest`` is there). Deliveries of all chosen runs
    are pooled unless ``per_run``, which adds a ``run_id`` column.
    When a chosen run was sampled, a ``sampled`` column says which rows cover stored events
    only (pooled rows: any chosen run sampled). Rows are sorted by run, then group.
    ``progress`` is told (slices read, slices in all) as the runs are read.
    """
    group = latency_group(by)
    with opened(store) as db:
        runs = resolve_runs(db, run_ids) or all_runs(db)  # none named: every run
        stats = group_stats(db, runs, group, per_run=per_run, progress=progress)
        sampled = sampled_runs(db, [r.run_id for r in runs])
    table = stats_table(stats, _KEY_COLUMN[group])
    if sampled:
        flags = [run is None or run in sampled for run in table["run_id"].to_pylist()]
        table = with_sampled_flag(table, flags)
    return table if per_run else table.drop_columns(["run_id"])


def group_stats(
    db: Store,
    runs: Sequence[RunRef],
    by: str,
    *,
    per_run: bool,
    progress: Progress | None = None,
) -> list[GroupStats]:
    """The latency statistics of ``runs`` grouped ``by`` (and by run if ``per_run``)."""
    counts = LatencyCounts()
    slices = run_slices(db, runs)
    for index in reported(slices, progress):
        piece = slices[index]
        rows = fetch_table(
            db,
            "latency_counts",
            {"run_no": piece.run.run_no, "low": piece.low, "high": piece.high, "by": by},
        )
        counts.add(piece.run.run_id if per_run else None, rows)
    return counts.stats()


def stats_table(stats: Sequence[GroupStats], key_column: str) -> pa.Table:
    """``run_id`` (None unless per run), the key column, ``deliveries`` and the ms columns."""
    columns: dict[str, pa.Array] = {
        "run_id": pa.array([s.group for s in stats], pa.string()),
        key_column: pa.array([s.key for s in stats], pa.string()),
        "deliveries": pa.array([s.deliveries for s in stats], pa.int64()),
    }
    values: list[list[float | None]] = [[] for _ in STAT_COLUMNS]
    for s in stats:
        row = [v for metric in METRICS for v in (*s.percentiles[metric], s.maxima[metric])]
        for column, value in zip(values, row, strict=True):
            # snapped: 9915.19 ns is 0.00991519 ms, not 0.009915190000000039 (division noise)
            column.append(None if value is None else snap(value / 1e6))
    for name, column in zip(STAT_COLUMNS, values, strict=True):
        columns[name] = pa.array(column, pa.float64())
    return pa.table(columns)


def handler_times(store: StoreLike, run_id: str) -> pa.Table:
    """Which handler is slow, as a profiler's flat profile says it: per handler of a run (id,
    prefix or ``latest``), ``deliveries``, ``self_ms`` (the total of each delivery's handling
    minus the deliveries nested inside it: the handler's own code), ``inclusive_ms`` (the total
    with them) and ``self_max_ms``, largest self time first.

    ``latency_percentiles(by="handler")`` reports handling time inclusive, so a handler that
    only publishes to a slow one looks as slow as that one; here it has a small ``self_ms``.
    Self times are null for runs recorded before schema revision 0002; a sampled run counts
    the deliveries of its stored events only.
    """
    with opened(store) as db:
        run = resolve_run(db, run_id)
        rows = fetch_table(db, "handler_times", {"run_no": run.run_no})
    columns: dict[str, pa.Array] = {
        "handler": rows["handler"],
        "deliveries": rows["deliveries"].cast(pa.int64()),
    }
    for name in ("self", "inclusive", "self_max"):
        # snapped: 9915.19 ns is 0.00991519 ms, not 0.009915190000000039 (division noise)
        values = rows[f"{name}_ns"].to_pylist()
        columns[f"{name}_ms"] = pa.array(
            [None if v is None else snap(v / 1e6) for v in values], pa.float64()
        )
    return pa.table(columns)
