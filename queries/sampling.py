"""Honest outputs for sampled runs: every table that counts or times a sampled run's events
says so.

A sampled run stores only some of its events (``EventTracer(sampling=…)``) and records, per
event type, how many it left out (``runs.sampling``). Tables stay what the stored rows say and
gain a flag when a run they cover was sampled: counts get ``sampled_out`` (events of that row
not stored, so stored + ``sampled_out`` is what the run published), latency percentiles get
``sampled`` (true: they are over the stored events only, which over-represent causal paths
to the kept types). Tables of runs stored whole are unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from eventstore.store import Store

from .sql_files import fetch_records


def sampled_runs(db: Store, run_ids: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
    """``run_id → runs.sampling`` for the sampled runs among ``run_ids`` (None: all runs)."""
    rows = fetch_records(
        db, "run_sampling", {"all_runs": run_ids is None, "run_ids": list(run_ids or ())}
    )
    found: dict[str, dict[str, Any]] = {}
    for row in rows:
        value = row["sampling"]
        found[row["run_id"]] = json.loads(value) if isinstance(value, str) else dict(value)
    return found


def sampled_out_total(sampling: dict[str, Any] | None) -> int | None:
    """Events the run left out, or None for a run stored whole."""
    if sampling is None:
        return None
    return int(sampling.get("sampled_out_total", sum(sampling.get("sampled_out", {}).values())))


def with_sampled_out(
    table: pa.Table, sampling: dict[str, Any] | None, *, type_column: str | None = None
) -> pa.Table:
    """``table`` plus ``sampled_out``: per row's event type if ``type_column`` names one, else
    the run's total; unchanged for a run stored whole."""
    if sampling is None:
        return table
    if type_column is None:
        values = [sampled_out_total(sampling)] * table.num_rows
    else:
        by_type = sampling.get("sampled_out", {})
        values = [int(by_type.get(kind, 0)) for kind in table[type_column].to_pylist()]
    return table.append_column("sampled_out", pa.array(values, pa.int64()))


def with_sampled_flag(table: pa.Table, sampled: Sequence[bool]) -> pa.Table:
    """``table`` plus a ``sampled`` column (one value per row)."""
    return table.append_column("sampled", pa.array(list(sampled), pa.bool_()))


def sampled_note(db: Store, run_id: str, event_type: str, stored: int) -> str:
    """`` (sampled: 12 of 120 PORTFOLIO_UPDATE events stored)`` when run ``run_id`` was
    sampled and left out events of ``event_type``, of which ``stored`` are stored; else
    ``""``. For what is drawn from one type's events (an equity curve from the portfolio's
    updates), so a coarse picture is not taken for the run's whole story."""
    sampling = sampled_runs(db, [run_id]).get(run_id)
    left_out = int((sampling or {}).get("sampled_out", {}).get(event_type, 0))
    if not left_out:
        return ""
    return f" (sampled: {stored:,} of {stored + left_out:,} {event_type} events stored)"
