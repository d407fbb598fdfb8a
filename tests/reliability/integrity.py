"""What "nothing damaged" means for a run database, checked with plain SQL on the real file.

A run is damaged if its stored events are not exactly seq 1..n (a gap or a duplicate means a
partial or repeated batch), if an edge, delivery or causation points at an event that is not
stored, if a delivery is stored twice, if its ``event_count`` disagrees with its rows, if it is
still ``running`` after a write-mode open (which loads the segment files of dead processes' runs
and marks them ``crashed``), or if segment files of an ended run are left.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import duckdb

from eventstore import open_store
from eventstore.store.segments import run_segments, segments_root

FINISHED = ("completed", "failed", "interrupted", "crashed")


@dataclass(frozen=True)
class RunState:
    run_id: str
    status: str
    error: str | None
    event_count: int
    stored: int
    fingerprint: str
    problems: tuple[str, ...]


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: list[object]) -> tuple[object, ...]:
    row = con.execute(sql, params).fetchone()
    assert row is not None
    return tuple(row)


def _run_problems(con: duckdb.DuckDBPyConnection, run_id: str, tag: str) -> list[str]:
    problems: list[str] = []
    total, distinct, low, high, bad_ids, bad_bounds = _one(
        con,
        """SELECT count(*), count(DISTINCT seq), coalesce(min(seq), 0), coalesce(max(seq), 0),
                  count(*) FILTER (WHERE event_id <> ? || '-' || seq),
                  count(*) FILTER (WHERE root_seq > seq OR end_seq < seq)
           FROM events WHERE run_id = ?""",
        [tag, run_id],
    )
    if total != distinct:
        problems.append(f"{total} event rows but {distinct} distinct seqs (a repeated batch)")
    if total and (low != 1 or high != total):
        problems.append(f"seqs {low}..{high} for {total} events (a gap: a partial batch)")
    if bad_ids:
        problems.append(f"{bad_ids} event ids are not <tag>-<seq>")
    if bad_bounds:
        problems.append(f"{bad_bounds} events have root_seq/end_seq outside their seq")
    checks = {
        "lineage edges point at unstored events": """
            SELECT count(*) FROM lineage_edges l WHERE l.run_id = ? AND (
              NOT EXISTS (SELECT 1 FROM events e WHERE e.run_id = l.run_id AND e.seq = l.child_seq)
              OR NOT EXISTS (SELECT 1 FROM events e
                             WHERE e.run_id = l.run_id AND e.seq = l.parent_seq))""",
        "deliveries stored twice (a batch loaded twice)": """
            SELECT count(*) - count(DISTINCT (seq, handler, received_ns, processed_ns))
            FROM deliveries WHERE run_id = ?""",
        "deliveries of unstored events": """
            SELECT count(*) FROM deliveries d WHERE d.run_id = ? AND NOT EXISTS
              (SELECT 1 FROM events e WHERE e.run_id = d.run_id AND e.seq = d.seq)""",
        "causation ids of unstored events": """
            SELECT count(*) FROM events c WHERE c.run_id = ? AND c.causation_id IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM events p
                              WHERE p.run_id = c.run_id AND p.event_id = c.causation_id)""",
        "events whose primary cause has no caused_by edge": """
            SELECT count(*) FROM events c WHERE c.run_id = ? AND c.causation_id IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM lineage_edges l WHERE l.run_id = c.run_id
                              AND l.child_seq = c.seq AND l.parent_id = c.causation_id)""",
    }
    for what, sql in checks.items():
        (count,) = _one(con, sql, [run_id])
        if count:
            problems.append(f"{count} {what}")
    return problems


def _fingerprint(con: duckdb.DuckDBPyConnection, run_id: str) -> str:
    digest = hashlib.sha256()
    for sql in (
        "SELECT * EXCLUDE (run_id) FROM events WHERE run_id = ? ORDER BY seq",
        "SELECT * EXCLUDE (run_id) FROM lineage_edges WHERE run_id = ? "
        "ORDER BY child_seq, parent_seq, kind",
        "SELECT * EXCLUDE (run_id) FROM deliveries WHERE run_id = ? "
        "ORDER BY seq, received_ns, handler",
        "SELECT status, error, event_count, ended_at FROM runs WHERE run_id = ?",
    ):
        for row in con.execute(sql, [run_id]).fetchall():
            digest.update(repr(row).encode())
    return digest.hexdigest()


def inspect_store(path: Path, *, mark_crashed: bool = True) -> dict[str, RunState]:
    """Every run of the database at ``path``, with what is wrong with it.

    With ``mark_crashed`` the file is opened for writing first, as a user's next run would
    (that marks dead processes' runs ``crashed``); then it is read read-only.
    """
    if mark_crashed:
        open_store(path).close()
    with open_store(path, read_only=True) as store:
        con = store.cursor()
        runs = con.execute(
            "SELECT run_id, tag, status, error, event_count FROM runs ORDER BY started_at, run_id"
        ).fetchall()
        states: dict[str, RunState] = {}
        for run_id, tag, status, error, event_count in runs:
            problems = _run_problems(con, run_id, tag)
            (stored,) = _one(con, "SELECT count(*) FROM events WHERE run_id = ?", [run_id])
            if status not in FINISHED:
                problems.append(f"status {status!r} after a write-mode open")
            if event_count != stored:
                problems.append(f"event_count {event_count} but {stored} events stored")
            if status in FINISHED and run_segments(segments_root(path), run_id):
                problems.append("segment files left after the run ended and was recovered")
            states[run_id] = RunState(
                run_id=run_id,
                status=status,
                error=error,
                event_count=int(event_count),
                stored=int(stored),  # type: ignore[call-overload]
                fingerprint=_fingerprint(con, run_id),
                problems=tuple(problems),
            )
        con.close()
    return states


def damaged(states: dict[str, RunState]) -> list[str]:
    """``run_id: problem`` for every damaged run."""
    return [f"{s.run_id}: {p}" for s in states.values() for p in s.problems]


def file_digest(path: Path) -> str:
    """The bytes of a database and its WAL, to prove a failed command changed nothing."""
    digest = hashlib.sha256()
    for part in (path, path.with_name(path.name + ".wal")):
        digest.update(part.name.encode())
        digest.update(part.read_bytes() if part.is_file() else b"<absent>")
    return digest.hexdigest()
