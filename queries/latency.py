"""Where the time went: latency percentiles of handler deliveries across runs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

import pyarrow as pa

from eventstore.errors import QueryError

from .refs import resolve_runs
from .sampling import sampled_runs, with_sampled_flag
from .sql_files import fetch_table
from .store_access import StoreLike, opened

GroupBy = Literal["type", "handler", "source"]
_KEY_COLUMN: dict[str, str] = {"type": "event_type", "handler": "handler", "source": "source"}


def latency_percentiles(
    store: StoreLike,
    run_ids: str | Sequence[str] = (),
    *,
    by: GroupBy = "type",
    per_run: bool = False,
) -> pa.Table:
    """p50/p90/p99/max (ms) and counts of queueing (emitted → received) and handling
    (received → processed) per event type, handler or source container.

    ``run_ids`` are ids, prefixes or ``latest``; none means every run in the store. Deliveries
    of all chosen runs are pooled unless ``per_run``, which adds a ``run_id`` column.
    When a chosen run was sampled, a ``sampled`` column says which rows cover stored events
    only (pooled rows: any chosen run sampled).
    """
    if by not in _KEY_COLUMN:
        raise QueryError(
            f"cannot group latencies by {by!r}: use one of {', '.join(get_args(GroupBy))}"
        )
    with opened(store) as db:
        runs = resolve_runs(db, run_ids)
        table = fetch_table(
            db,
            "latency_percentiles",
            {
                "by": by,
                "all_runs": not runs,
                "run_ids": [r.run_id for r in runs],
                "per_run": per_run,
            },
        )
        sampled = sampled_runs(db, [r.run_id for r in runs] if runs else None)
    names = [_KEY_COLUMN[by] if n == "key" else n for n in table.column_names]
    table = table.rename_columns(names)
    if sampled:
        flags = [run is None or run in sampled for run in table["run_id"].to_pylist()]
        table = with_sampled_flag(table, flags)
    return table if per_run else table.drop_columns(["run_id"])
