"""Causation chains inside a short seq span, walked in Python.

Most chains lie in a short span: a FILL's ancestors in the dozen seqs back to the BAR behind its
order, a BAR's effects in the few events its dispatch published. There the recursive CTE of
``ancestors.sql``/``descendants.sql`` costs far more than its data: on a store of 10 runs x 1M
events each of its operators (the recursion, the window picking each event's nearest edge, the
joins, the names) costs a few hundred microseconds even on five rows, so it takes about 5 ms,
while a plain range scan of the span's edges, events or deliveries takes under 1 ms. So for a
span of at most ``SHORT_SPAN`` seqs this module reads those three ranges and the run's names
(four scans, no join), walks the edges breadth-first and builds the rows here: about 3.5 ms
in all for ``why``/``effects``, id resolution included, where the CTE took 7-10 ms.

The rows are the ones the CTE returns, in the same order, so either path gives the same answer:
one row per event reached (events without a stored row are walked through but not returned),
``depth`` the fewest edges from the event asked about (at most ``max_depth``), ``kind``/
``via_id`` the edge taken at that depth, ties going to the newest via upward and the oldest
downward, then to the smaller kind name (names compare by code point, as DuckDB orders text).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from eventstore.store import Store

from .refs import RunRef
from .sql_files import fetch_records

SHORT_SPAN: dict[str, int] = {"duckdb": 512}
"""Longest span (``high - low``, in seqs) walked here, by dialect. On DuckDB, reading every
event of the span (payloads included) overtakes the CTE, which reads only the events it
reaches, near 1 000 seqs (``benchmarks/bench_queries.py``'s store). PostgreSQL is absent: its
CTE runs on indexes in about 1.5 ms, less than the four round trips of the scans."""

Row = dict[str, Any]
_Reached = dict[int, tuple[int, int | None, int | None]]  # seq -> (depth, via seq, kind code)


def is_short(db: Store, low: int, high: int) -> bool:
    """Whether the span ``[low, high]`` is short enough to be walked here on ``db``."""
    return high - low <= SHORT_SPAN.get(db.dialect, -1)


def walked_rows(
    db: Store, run: RunRef, seq: int, low: int, high: int, *, upward: bool, max_depth: int
) -> list[Row]:
    """The rows of ``ancestors.sql`` (``upward``) or ``descendants.sql`` for event ``seq`` of
    ``run``, whose lineage lies in ``[low, high]``: newest first upward, oldest first down."""
    span = {"run_no": run.run_no, "low": low, "high": high}
    names = {r["code"]: r["name"] for r in fetch_records(db, "run_name_codes", span)}
    edges = fetch_records(db, "span_edges", span)
    reached = _nearest(seq, edges, names, upward=upward, max_depth=max_depth)
    events = {r["seq"]: r for r in fetch_records(db, "span_events", span) if r["seq"] in reached}
    timing = _timing(fetch_records(db, "span_deliveries", span), reached)
    prefix = run.id_prefix
    rows = []
    for at in sorted(events, reverse=upward):
        event = events[at]
        depth, via, kind = reached[at]
        received, processed = timing.get(at, (None, None))
        rows.append(
            {
                "event_id": f"{prefix}{at}",
                "seq": at,
                "depth": depth,
                "kind": names.get(kind),
                "via_id": None if via is None else f"{prefix}{via}",
                "event_type": names.get(event["type_code"]),
                "source": names.get(event["source_code"]),
                "sim_time": event["sim_time"],
                "causation_id": _id(prefix, event["causation_seq"]),
                "created_ns": event["created_ns"],
                "emitted_ns": event["emitted_ns"],
                "received_ns": received,
                "processed_ns": processed,
                "payload": event["payload"],
                "partition_key": event["partition_key"],
            }
        )
    return rows


def _nearest(
    seq: int, edges: list[Row], names: dict[int, str], *, upward: bool, max_depth: int
) -> _Reached:
    """Breadth-first from ``seq`` along ``edges`` (to parents ``upward``, else to children):
    every seq reached within ``max_depth`` edges, with the depth and the edge that reach it
    first. An event first reached at depth d can only be reached from events at depth d - 1,
    so choosing among the frontier's edges picks what the CTE's window picks among all paths."""
    step: defaultdict[int, list[tuple[int, int]]] = defaultdict(list)
    for edge in edges:
        source, target = (
            (edge["child_seq"], edge["parent_seq"])
            if upward
            else (edge["parent_seq"], edge["child_seq"])
        )
        step[source].append((target, edge["kind_code"]))
    reached: _Reached = {seq: (0, None, None)}
    frontier = [seq]
    depth = 0
    while frontier and depth < max_depth:
        depth += 1
        found: dict[int, tuple[int, int]] = {}
        for via in frontier:
            for target, kind in step[via]:
                if target in reached:
                    continue
                best = found.get(target)
                if best is None or _rank(via, kind, names, upward) < _rank(*best, names, upward):
                    found[target] = (via, kind)
        for target, (via, kind) in found.items():
            reached[target] = (depth, via, kind)
        frontier = list(found)
    return reached


def _rank(via: int, kind: int, names: dict[int, str], upward: bool) -> tuple[int, bool, str]:
    """Order of preference among edges reaching an event at one depth: the newest via upward
    (the oldest downward), then the smaller kind name, an unknown name last (SQL's NULLS LAST)."""
    name = names.get(kind)
    return (-via if upward else via, name is None, name or "")


def _timing(deliveries: list[Row], reached: _Reached) -> dict[int, tuple[int, int]]:
    """Each reached event's first handler start and last handler end."""
    timing: dict[int, tuple[int, int]] = {}
    for d in deliveries:
        at = d["seq"]
        if at not in reached:
            continue
        received, processed = d["received_ns"], d["processed_ns"]
        if at in timing:
            first, last = timing[at]
            received, processed = min(first, received), max(last, processed)
        timing[at] = (received, processed)
    return timing


def _id(prefix: str, seq: int | None) -> str | None:
    return None if seq is None else f"{prefix}{seq}"
