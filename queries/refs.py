"""Turns what a user types into a run or an event: a full id, an unambiguous prefix, or
``latest``. Anything else is a ``QueryError`` naming the problem, the candidates and the fix.

Event ids are ``<run tag>-<seq>``, so an event is found through its run's tag and its seq, never
by scanning the ``event_id`` column: the lookup reads one row group however large the store.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eventstore.errors import QueryError
from eventstore.store import Store

from .sampling import sampled_out_total, sampled_runs
from .sql_files import fetch_records
from .store_access import StoreLike, opened

LATEST = "latest"
_SHOWN = 5
_FOUND_AT_MOST = 11
"""The LIMIT of ``find_runs.sql`` and ``find_runs_by_tag.sql``: candidates listed, not counted."""

LOADED_WHILE_RUNNING = "a run's events are loaded in large batches while it goes and when it ends"
"""Why a running run's latest events are not in the store yet, as every answer about one says."""

_RUNS_BY_TAG: weakref.WeakKeyDictionary[Store, dict[str, RunRef]] = weakref.WeakKeyDictionary()
"""Runs found by their whole tag in a ``frozen`` store, kept while it is open: in a notebook
asking ``why`` of one event after another, the run lookup is a query of its own, about a
third of ``why`` on a large store right after a scan (``benchmarks/bench_queries.py``)."""


@dataclass(frozen=True, slots=True)
class RunRef:
    """A resolved run: its id, tag (the event id prefix), start, whether pruning is exact,
    its number in the store (the key queries join on) and its status when it was resolved."""

    run_id: str
    tag: str
    started_at: datetime
    lineage_exact: bool
    run_no: int
    status: str | None = None

    @property
    def id_prefix(self) -> str:
        """What every event id of this run starts with."""
        return f"{self.tag}-"

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> RunRef:
        return cls(
            row["run_id"],
            row["tag"],
            row["started_at"],
            bool(row["lineage_exact"]),
            int(row["run_no"]),
            row.get("status"),
        )


@dataclass(frozen=True, slots=True)
class EventSpan:
    """A resolved event's run, seq and the seq range its lineage can lie in (None: unbounded)."""

    run: RunRef
    seq: int
    root_seq: int
    end_seq: int | None

    @property
    def ancestor_low(self) -> int:
        """Smallest seq an ancestor can have: ``root_seq``, even in a run whose lineage is not
        exact (a named parent that had left the tracer's memory gives its child the smallest
        root, 1, so every root stays a true lower bound); only ``end_seq`` can fall short."""
        return self.root_seq

    @property
    def descendant_high(self) -> int | None:
        """Largest seq a descendant can have; None when unknown (dispatch never finished)."""
        return self.end_seq if self.run.lineage_exact else None


@dataclass(frozen=True, slots=True)
class EventRef(EventSpan):
    """A resolved event: its span, id and type."""

    event_id: str
    event_type: str


def _where(store: Store) -> str:
    return store.where


def _listing(rows: list[dict[str, Any]], fetched_at_most: int, key: str = "run_id") -> str:
    """The first candidates, then how many more: a count only when the query that found them
    was not cut at its ``fetched_at_most`` rows (else the true number is unknown)."""
    shown = ", ".join(str(r[key]) for r in rows[:_SHOWN])
    more = len(rows) - _SHOWN
    if more <= 0:
        return shown
    return shown + (" (and more)" if len(rows) >= fetched_at_most else f" (and {more} more)")


def run_refs(refs: str | Iterable[str]) -> list[str]:
    """What a helper taking several runs was given, as a list: one id (a string) is one run,
    not a sequence of one-letter ids."""
    return [refs] if isinstance(refs, str) else list(refs)


def _text(ref: object, what: str, example: str) -> str:
    if not isinstance(ref, str):
        raise QueryError(
            f"{what} must be a string, got {type(ref).__name__} {ref!r}: pass it as text, "
            f"e.g. {example}"
        )
    return ref.strip()


def resolve_run(store: StoreLike, ref: str) -> RunRef:
    """The run ``ref`` names: a full run id, a unique prefix of a run id or tag, or ``latest``."""
    with opened(store) as db:
        return _resolve_run(db, ref)


def _resolve_run(store: Store, ref: str) -> RunRef:
    ref = _text(ref, "a run id", "'latest' or 'kfgge7ss44'")
    if not ref:
        raise QueryError("empty run id: give a run id, a unique prefix of one, or 'latest'")
    if ref.lower() == LATEST:
        rows = fetch_records(store, "latest_runs", {"limit": 1})
        if not rows:
            raise _no_runs(store)
        return RunRef.from_row(rows[0])
    rows = fetch_records(store, "find_runs", {"ref": ref})
    exact = [r for r in rows if ref in (r["run_id"], r["tag"])]
    if exact:
        return RunRef.from_row(exact[0])
    if len(rows) == 1:
        return RunRef.from_row(rows[0])
    if rows:
        raise QueryError(
            f"run prefix {ref!r} is ambiguous, it matches {_listing(rows, _FOUND_AT_MOST)}: "
            "type more of the id"
        )
    recent = fetch_records(store, "latest_runs", {"limit": _SHOWN + 1})
    hint = f"recent runs: {_listing(recent, _SHOWN + 1)}" if recent else "it holds no runs yet"
    raise QueryError(
        f"no run {ref!r} in {_where(store)} ({hint}): `eventstore runs --db {_where(store)}` "
        "lists them"
    )


def resolve_runs(store: Store, refs: str | Iterable[str]) -> list[RunRef]:
    """Several runs, each resolved as by ``resolve_run``, duplicates dropped, order kept."""
    resolved = [resolve_run(store, ref) for ref in run_refs(refs)]
    return list({r.run_id: r for r in resolved}.values())


def all_runs(store: Store) -> list[RunRef]:
    """Every run of the store, oldest first; a store without runs is an error, as for
    ``latest``: there is nothing to answer about."""
    runs = [RunRef.from_row(row) for row in fetch_records(store, "all_runs")]
    if not runs:
        raise _no_runs(store)
    return runs


def _no_runs(store: Store) -> QueryError:
    return QueryError(
        f"{_where(store)} holds no runs yet: trace a run into it first "
        f"(eventstore run --db {_where(store)})"
    )


def resolve_event(store: StoreLike, ref: str) -> EventRef:
    """The event ``ref`` names: ``<run tag>-<seq>``, where the tag may be a unique prefix."""
    with opened(store) as db:
        run, seq = event_run(db, ref)
        row = _event_row(db, "find_event", run, seq)
    return EventRef(
        run=run,
        seq=int(row["seq"]),
        event_id=row["event_id"],
        event_type=row["event_type"],
        root_seq=int(row["root_seq"]),
        end_seq=None if row["end_seq"] is None else int(row["end_seq"]),
    )


def event_span(store: Store, run: RunRef, seq: int) -> EventSpan:
    """Like ``resolve_event``, without the event's id and type (one name lookup fewer), for
    event ``seq`` of ``run`` as ``event_run`` found them: for helpers whose answer carries the
    id and type anyway (``why``, ``effects``). A ``QueryError`` if the run has no such event."""
    row = _event_row(store, "event_bounds", run, seq)
    return EventSpan(
        run=run,
        seq=int(row["seq"]),
        root_seq=int(row["root_seq"]),
        end_seq=None if row["end_seq"] is None else int(row["end_seq"]),
    )


def event_run(store: Store, ref: str) -> tuple[RunRef, int]:
    """The run an event id names by its tag, and the seq it names (which the run may not
    hold: ``event_span`` and ``resolve_event`` check that)."""
    ref = _text(ref, "an event id", "'kfgge7ss44-12'")
    prefix, dash, number = ref.rpartition("-")
    if not dash or not prefix or not number.isdigit():
        raise QueryError(
            f"{ref!r} is not an event id: event ids look like '<run tag>-<seq>', e.g. "
            "'kfgge7ss44-12' (`eventstore chains RUN` or `eventstore sql` show them)"
        )
    if prefix.endswith("-") and prefix[:-1].isalnum():  # 'tag--1': a negative seq
        raise QueryError(
            f"{ref!r} is not an event id: the seq after the run tag is a whole number from 1, "
            f"e.g. '{prefix[:-1]}-1'"
        )
    known = _RUNS_BY_TAG.get(store, {}).get(prefix)
    if known is not None:
        return known, int(number)
    runs = fetch_records(store, "find_run_by_tag", {"tag": prefix})
    if runs and store.frozen:
        run = RunRef.from_row(runs[0])
        _RUNS_BY_TAG.setdefault(store, {})[prefix] = run
        return run, int(number)
    if not runs:  # not a whole tag: a unique prefix of one will do
        runs = fetch_records(store, "find_runs_by_tag", {"prefix": prefix})
    if not runs:  # or the run's whole id, as `eventstore runs` shows it: 'run-…-<tag>-12'
        found = fetch_records(store, "find_runs", {"ref": prefix})
        runs = [run for run in found if run["run_id"] == prefix]
    if not runs:
        recent = fetch_records(store, "latest_runs", {"limit": _SHOWN + 1})
        listed = _listing(recent, _SHOWN + 1, "tag")
        tags = f"tags of recent runs: {listed}" if recent else "it has no runs"
        raise QueryError(
            f"no run in {_where(store)} has tag {prefix!r}, so event {ref!r} is unknown ({tags}): "
            "check the id and --db"
        )
    if len(runs) > 1:
        raise QueryError(
            f"event id prefix {prefix!r} is ambiguous, it matches the tags of runs "
            f"{_listing(runs, _FOUND_AT_MOST, 'tag')}: type more of the tag"
        )
    return RunRef.from_row(runs[0]), int(number)


def _event_row(store: Store, query: str, run: RunRef, seq: int) -> dict[str, Any]:
    """The row ``query`` finds for event ``seq`` of ``run``; a ``QueryError`` when it has no
    such event: that sampling left it out, or else the run's span of events."""
    rows = fetch_records(
        store, query, {"run_no": run.run_no, "id_prefix": run.id_prefix, "seq": seq}
    )
    if not rows:
        span = fetch_records(store, "run_seq_range", {"run_no": run.run_no})[0]
        left_out = sampled_out_total(sampled_runs(store, [run.run_id]).get(run.run_id))
        published = span["events"] + (left_out or 0)
        if left_out and 1 <= seq <= published:
            raise QueryError(
                f"{run.tag}-{seq} is not stored: run {run.run_id} was sampled (kept "
                f"{span['events']:,} of {published:,} events): pick a stored event, or trace "
                "the run without --sample"
            )
        events = f"{run.tag}-{span['first_seq']} … {run.tag}-{span['last_seq']}"
        if run.status == "running" and seq > (span["last_seq"] or 0):
            stored = f"{events} are stored so far" if span["events"] else "none is stored yet"
            raise QueryError(
                f"run {run.run_id} is still running and {run.tag}-{seq} is not stored yet "
                f"({stored}): {LOADED_WHILE_RUNNING}: ask again once it has ended"
            )
        held = f"its events are {events}" if span["events"] else "it has no stored events"
        raise QueryError(f"run {run.run_id} has no event {run.tag}-{seq} ({held}): check the id")
    return rows[0]
