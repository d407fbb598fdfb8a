"""Causation chains: why an event happened (ancestors), what it caused (descendants), and every
SIGNAL → … → FILL chain of a run.

Chains are recursive CTEs over ``run_edges`` pruned to the event's run and to the seq range
its lineage can occupy (``root_seq``/``end_seq``), so they read a row group or two, not the
store. Tables keep ``depth``/``kind``/``via_id``; the ``why``/``effects`` lists are the same rows
as ``TracedEvent`` records. The lists are what people ask for one event at a time, so when that
range is short they come from ``lineage_walk`` (the range read by plain scans and walked in
Python, the same rows in half the time on DuckDB); an unbounded or long range keeps the CTE.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from eventstore.errors import QueryError
from eventstore.store import Store
from eventstore.tracing import TracedEvent
from eventstore.tracing.traced_event import traced_event_from_row

from . import lineage_walk
from .refs import (
    EventRef,
    EventSpan,
    RunRef,
    event_run,
    event_span,
    resolve_event,
    resolve_run,
)
from .slices import Progress, reported, slice_seqs
from .sql_files import fetch_records, fetch_table
from .store_access import StoreLike, opened

MAX_DEPTH = 256
"""Recursion bound: chains are a handful of levels deep; this only stops a runaway."""

_UNBOUNDED = 2**63 - 1


def ancestors(store: StoreLike, event_id: str, *, max_depth: int = MAX_DEPTH) -> pa.Table:
    """The event and its ancestors, newest first (the last row is a root), with ``depth``,
    the edge ``kind`` and ``via_id``, the event each ancestor leads to."""
    max_depth = _checked_depth(max_depth)
    with opened(store) as db:
        return _ancestors(db, resolve_event(db, event_id), max_depth)


def descendants(store: StoreLike, event_id: str, *, max_depth: int = MAX_DEPTH) -> pa.Table:
    """The event and everything it caused, in publication order, with ``depth``, the edge
    ``kind`` and ``via_id``, the event each descendant came from."""
    max_depth = _checked_depth(max_depth)
    with opened(store) as db:
        return _descendants(db, resolve_event(db, event_id), max_depth)


def why(store: StoreLike, event_id: str, *, max_depth: int = MAX_DEPTH) -> list[TracedEvent]:
    """Why ``event_id`` happened: the event, then its ancestors back to the root, newest first.

    Every lineage edge is followed, not only ``caused_by``: a FILL's list holds the FILL, the
    BAR that priced it, its ORDER, SIGNAL and the BAR behind them. Each record's ``depth``,
    ``edge_kind`` and ``via_id`` tell them apart."""
    max_depth = _checked_depth(max_depth)
    with opened(store) as db:
        run, seq = event_run(db, event_id)
        guessed = lineage_walk.guessed_rows(db, run, seq, upward=True, max_depth=max_depth)
        if guessed is not None:
            return _traced(guessed, run)
        span = event_span(db, run, seq)
        low, high = span.ancestor_low, span.seq
        if lineage_walk.is_short(db, low, high):
            rows = lineage_walk.walked_rows(
                db, span.run, span.seq, low, high, upward=True, max_depth=max_depth
            )
        else:
            rows = fetch_records(db, "ancestors", _ancestor_params(span, max_depth))
        return _traced(rows, span.run)


def effects(store: StoreLike, event_id: str, *, max_depth: int = MAX_DEPTH) -> list[TracedEvent]:
    """What ``event_id`` caused: the event, then its descendants in publication order, each
    with its ``depth``, ``edge_kind`` and ``via_id`` (the event it came from)."""
    max_depth = _checked_depth(max_depth)
    with opened(store) as db:
        run, seq = event_run(db, event_id)
        guessed = lineage_walk.guessed_rows(db, run, seq, upward=False, max_depth=max_depth)
        if guessed is not None:
            return _traced(guessed, run)
        span = event_span(db, run, seq)
        low, high = span.seq, span.descendant_high
        if high is not None and lineage_walk.is_short(db, low, high):
            rows = lineage_walk.walked_rows(
                db, span.run, span.seq, low, high, upward=False, max_depth=max_depth
            )
        else:
            rows = fetch_records(db, "descendants", _descendant_params(span, max_depth))
        return _traced(rows, span.run)


def signal_to_fill_chains(
    store: StoreLike,
    run_id: str,
    *,
    max_depth: int = MAX_DEPTH,
    progress: Progress | None = None,
) -> pa.Table:
    """One row per SIGNAL → … → FILL chain of a run: ``signal_id``, ``order_id``, ``fill_id``,
    ``chain_length`` (events, both ends included), ``signal_to_fill_ms`` (wall clock, signal
    created → fill created), ``signal_time``/``fill_time`` (simulated), in order of fill.

    The run's FILLs are walked a slice at a time (``chain_slices.sql``), each slice reading
    only the seqs its ancestors can occupy, so memory stays bounded by a slice however long
    the run; ``progress`` is told (slices done, slices in all)."""
    max_depth = _checked_depth(max_depth)
    with opened(store) as db:
        run = resolve_run(db, run_id)
        params = {"run_no": run.run_no, "max_depth": max_depth}
        slices = fetch_records(db, "chain_slices", {"run_no": run.run_no, "size": slice_seqs()})
        if not slices:  # no FILL: no chain, in the columns of one
            nothing = {"low": 1, "first_fill": 1, "last_fill": 0}
            return fetch_table(db, "signal_to_fill_chains", {**params, **nothing})
        parts = [
            fetch_table(db, "signal_to_fill_chains", {**params, **slices[index]})
            for index in reported(slices, progress)
        ]
    return pa.concat_tables(parts)


def _checked_depth(max_depth: object) -> int:
    """``max_depth`` as given, if it is a whole number of edges (0 or more)."""
    if isinstance(max_depth, bool) or not isinstance(max_depth, int) or max_depth < 0:
        raise QueryError(
            f"max_depth must be a whole number of edges (0 or more), got {max_depth!r}"
        )
    return max_depth


def _ancestors(db: Store, ref: EventRef, max_depth: int) -> pa.Table:
    return fetch_table(db, "ancestors", _ancestor_params(ref, max_depth))


def _descendants(db: Store, ref: EventRef, max_depth: int) -> pa.Table:
    return fetch_table(db, "descendants", _descendant_params(ref, max_depth))


def _ancestor_params(ref: EventRef | EventSpan, max_depth: int) -> dict[str, Any]:
    return {
        "run_no": ref.run.run_no,
        "id_prefix": ref.run.id_prefix,
        "seq": ref.seq,
        "low": ref.ancestor_low,
        "max_depth": max_depth,
    }


def _descendant_params(ref: EventRef | EventSpan, max_depth: int) -> dict[str, Any]:
    high = ref.descendant_high
    return {
        "run_no": ref.run.run_no,
        "id_prefix": ref.run.id_prefix,
        "seq": ref.seq,
        "high": _UNBOUNDED if high is None else high,
        "max_depth": max_depth,
    }


def traced_events(table: pa.Table, run: RunRef) -> list[TracedEvent]:
    """Rows of ``ancestors``/``descendants`` as ``TracedEvent`` records, wall-clock times
    rebuilt from the run's start plus each ``*_ns`` offset."""
    return _traced(table.to_pylist(), run)


def _traced(rows: list[dict[str, Any]], run: RunRef) -> list[TracedEvent]:
    return [traced_event_from_row(row, run.run_id, run.started_at) for row in rows]
