"""What a store holds and what happened in a run: run lists, summaries and event counts."""

from __future__ import annotations

import pyarrow as pa

from .refs import resolve_run
from .sql_files import fetch_table
from .store_access import StoreLike, opened


def list_runs(store: StoreLike) -> pa.Table:
    """Every run, newest first: id, name, status, start, duration (s), events, errors."""
    with opened(store) as db:
        return fetch_table(db, "list_runs")


def run_summary(store: StoreLike, run_id: str) -> pa.Table:
    """One row for a run (id, prefix or ``latest``): status, duration (s), events, bars,
    signals, orders, fills, handler errors, dropped/unencodable counts and the run's error."""
    with opened(store) as db:
        run = resolve_run(db, run_id)
        return fetch_table(db, "run_summary", {"run_id": run.run_id})


def event_counts(store: StoreLike, run_id: str) -> pa.Table:
    """Events of each type in a run, most frequent first, with how many sources published
    them."""
    with opened(store) as db:
        run = resolve_run(db, run_id)
        return fetch_table(db, "event_counts", {"run_id": run.run_id})
