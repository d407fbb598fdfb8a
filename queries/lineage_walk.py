"""Causation chains inside a short seq span, walked in Python.

Most chains lie in a short span: a FILL's ancestors in the dozen seqs back to the BAR behind its
order, a BAR's effects in the few events its dispatch published. There the recursive CTE of
``ancestors.sql``/``descendants.sql`` costs far more than its data: on a DuckDB store of 10 runs
x 1M events each of its operators (the recursion, the window picking each event's nearest
edge, the joins, the names) costs a few hundred microseconds even on five rows, and so does
each query before it reads a row. So for a span of at most ``SHORT_SPAN`` seqs, one query
(``lineage_span.sql``: four plain range scans, no join) reads the span's events, edges and
deliveries and the run's names; the edges are walked breadth-first and the rows built here.
Measured with ``benchmarks/bench_queries.py`` (id resolution included, a read-only store, which
keeps the runs it found: ``refs.event_run``): ``why``/``effects`` of a FILL or a BAR in 3-4.5
ms, the most right after a large scan has cooled the caches; the CTE took 5.5-9 ms.

The span is first guessed (``guessed_rows``): the seqs just before or after the event are read
in the same query as the event's own bounds, which then say whether the guess held its whole
lineage; only when not are the bounds used for a second read, or the CTE.

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
event of the span (payloads included) costs as much as the CTE, which reads only the events it
reaches, near 1 000 seqs (``benchmarks/bench_queries.py``'s store). PostgreSQL is absent: its
CTE walks indexes in about 1 ms at any span, and the scans beat it by 0.3 ms only below about
100 seqs (measured on a store of 2 runs x 200 000 events)."""

GUESSED_SPAN = 64
"""Seqs read beside an event by ``guessed_rows``, in the one query that also reads its bounds.
Most chains are shorter (a FILL's ancestors lie about a dozen seqs back, a BAR's effects in the
few seqs after it), and reading 64 seqs costs what reading 12 does (the same compressed
vectors): the separate bounds query this saves is about a quarter of ``why(FILL)``
(``benchmarks/bench_queries.py``)."""

Row = dict[str, Any]
_Reached = dict[int, tuple[int, int | None, int | None]]  # seq -> (depth, via seq, kind code)


def is_short(db: Store, low: int, high: int) -> bool:
    """Whether the span ``[low, high]`` is short enough to be walked here on ``db``."""
    return high - low <= SHORT_SPAN.get(db.dialect, -1)


def guessed_rows(
    db: Store, run: RunRef, seq: int, *, upward: bool, max_depth: int
) -> list[Row] | None:
    """``walked_rows`` for event ``seq`` of ``run`` before its lineage bounds are known: the
    ``GUESSED_SPAN`` seqs before it (``upward``) or after it are read, and walked if the
    event's bounds, read with them, say its lineage lies inside; else None (the event is not
    there, or its lineage reaches further: the caller reads the bounds and goes on from them)."""
    if not is_short(db, 0, GUESSED_SPAN):
        return None
    low, high = (max(1, seq - GUESSED_SPAN), seq) if upward else (seq, seq + GUESSED_SPAN)
    span = _read_span(db, run, low, high)
    event = span.events.get(seq)
    if event is None:
        return None
    if upward:
        inside = event["root_seq"] >= low
    else:  # a run's end bounds are exact or unknown, and only exact ones bound the walk
        inside = run.lineage_exact and event["end_seq"] is not None and event["end_seq"] <= high
    return _walk(span, run, seq, upward=upward, max_depth=max_depth) if inside else None


def walked_rows(
    db: Store, run: RunRef, seq: int, low: int, high: int, *, upward: bool, max_depth: int
) -> list[Row]:
    """The rows of ``ancestors.sql`` (``upward``) or ``descendants.sql`` for event ``seq`` of
    ``run``, whose lineage lies in ``[low, high]``: newest first upward, oldest first down."""
    span = _read_span(db, run, low, high)
    return _walk(span, run, seq, upward=upward, max_depth=max_depth)


def _read_span(db: Store, run: RunRef, low: int, high: int) -> _Span:
    return _Span(
        fetch_records(db, "lineage_span", {"run_no": run.run_no, "low": low, "high": high})
    )


def _walk(span: _Span, run: RunRef, seq: int, *, upward: bool, max_depth: int) -> list[Row]:
    names = span.names
    reached = _nearest(seq, span.edges, names, upward=upward, max_depth=max_depth)
    prefix = run.id_prefix
    rows = []
    for at in sorted(reached.keys() & span.events.keys(), reverse=upward):
        event = span.events[at]
        depth, via, kind = reached[at]
        received, processed = span.timing.get(at, (None, None))
        rows.append(
            {
                "event_id": f"{prefix}{at}",
                "seq": at,
                "depth": depth,
                "kind": _name(names, kind),
                "via_id": _id(prefix, via),
                "event_type": _name(names, event["code"]),
                "source": _name(names, event["other_code"]),
                "sim_time": event["sim_time"],
                "causation_id": _id(prefix, event["other_seq"]),
                "created_ns": event["first_ns"],
                "emitted_ns": event["last_ns"],
                "received_ns": received,
                "processed_ns": processed,
                "payload": event["text"],
                "partition_key": event["partition_key"],
            }
        )
    return rows


class _Span:
    """The rows of ``lineage_span.sql`` sorted by part: events by seq, edges, each event's
    first handler start and last handler end, and the run's names by code."""

    def __init__(self, rows: list[Row]) -> None:
        self.events: dict[int, Row] = {}
        self.edges: list[tuple[int, int, int]] = []  # (parent seq, child seq, kind code)
        self.timing: dict[int, tuple[int, int]] = {}
        self.names: dict[int, str] = {}
        for row in rows:
            part = row["part"]
            if part == "event":
                self.events[row["seq"]] = row
            elif part == "edge":
                self.edges.append((row["other_seq"], row["seq"], row["code"]))
            elif part == "delivery":
                self._delivered(row["seq"], row["first_ns"], row["last_ns"])
            else:
                self.names[row["code"]] = row["text"]

    def _delivered(self, seq: int, received: int, processed: int) -> None:
        if seq in self.timing:
            first, last = self.timing[seq]
            received, processed = min(first, received), max(last, processed)
        self.timing[seq] = (received, processed)


def _nearest(
    seq: int,
    edges: list[tuple[int, int, int]],
    names: dict[int, str],
    *,
    upward: bool,
    max_depth: int,
) -> _Reached:
    """Breadth-first from ``seq`` along ``edges`` (to parents ``upward``, else to children):
    every seq reached within ``max_depth`` edges, with the depth and the edge that reach it
    first. An event first reached at depth d can only be reached from events at depth d - 1,
    so choosing among the frontier's edges picks what the CTE's window picks among all paths."""
    step: defaultdict[int, list[tuple[int, int]]] = defaultdict(list)
    for parent, child, kind in edges:
        source, target = (child, parent) if upward else (parent, child)
        step[source].append((target, kind))
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
    name = _name(names, kind)
    return (-via if upward else via, name is None, name or "")


def _id(prefix: str, seq: int | None) -> str | None:
    return None if seq is None else f"{prefix}{seq}"


def _name(names: dict[int, str], code: int | None) -> str | None:
    return None if code is None else names.get(code)
