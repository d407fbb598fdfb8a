"""What a store holds and what happened in a run: run lists, summaries and event counts."""

from __future__ import annotations

import pyarrow as pa

from .refs import resolve_run
from .sampling import sampled_out_total, sampled_runs, with_sampled_out
from .sql_files import fetch_table
from .store_access import StoreLike, opened


def list_runs(store: StoreLike) -> pa.Table:
    """Every run, newest first: id, name, status, start, duration (s), events, errors; with
    ``sampled_out`` (null for runs stored whole) when a run was sampled."""
    with opened(store) as db:
        table = fetch_table(db, "list_runs")
        sampled = sampled_runs(db)
    if not sampled:
        return table
    totals = [sampled_out_total(sampled.get(run)) for run in table["run_id"].to_pylist()]
    return table.append_column("sampled_out", pa.array(totals, pa.int64()))


def run_summary(store: StoreLike, run_id: str) -> pa.Table:
    """One row for a run (id, prefix or ``latest``): status, duration (s), events, bars,
    signals, orders, fills, handler errors, dropped/unencodable counts and the run's error;
    counts are of stored events, and a sampled run adds ``sampled_out`` (events left out)."""
    with opened(store) as db:
        run = resolve_run(db, run_id)
        table = fetch_table(db, "run_summary", {"run_id": run.run_id})
        return with_sampled_out(table, sampled_runs(db, [run.run_id]).get(run.run_id))


def event_counts(store: StoreLike, run_id: str) -> pa.Table:
    """Events of each type in a run, most frequent first, with how many sources published
    them; a sampled run adds ``sampled_out`` per type (stored + sampled_out = published)."""
    with opened(store) as db:
        run = resolve_run(db, run_id)
        table = fetch_table(db, "event_counts", {"run_id": run.run_id})
        sampling = sampled_runs(db, [run.run_id]).get(run.run_id)
        return with_sampled_out(table, sampling, type_column="event_type")
