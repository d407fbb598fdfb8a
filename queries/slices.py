"""Reading a long run a slice at a time, so what a query holds is bounded by the slice, not by
the run or the store.

A query that joins a whole run (every delivery to its event, run A's events to run B's) holds
a hash table of one side: on a run of 5.5 million events, counting its latencies in one
query grew the process by 450 MB, and that grows with the run and again with every run of a
sweep. The same query over one
slice of ``SLICE_SEQS`` seqs holds a slice's worth, whatever the run's length, and the
slices come one after another, which is also what a progress bar counts. A slice is a seq
range of one run: DuckDB reads only its row groups (zone maps), PostgreSQL its index range.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from eventstore.store import Store

from .refs import RunRef
from .sql_files import fetch_records

SLICE_SEQS = 500_000
"""Seqs per slice. Measured on a run of 5.5 million events (21 million deliveries) under the
128 MB cap of ``eventstore.store.duckdb_memory``, peak RSS above the 206 MB of a process with
the store open, and time: latency percentiles 101 MB in 0.55 s by slices of 500 000 seqs,
110 MB in 0.52 s by 1 000 000, 87 MB in 1.30 s in one piece (its join spilled to disk);
chains 113 MB in 0.47 s, 148 MB in 0.44 s, 293 MB in 1.12 s (a recursive CTE can't spill:
the whole run's walk ran again uncapped)."""

Progress = Callable[[int, int], None]
"""Called with (work done, work in all), in whatever units the work comes in (slices)."""


@dataclass(frozen=True, slots=True)
class RunSlice:
    """Seqs ``low`` to ``high`` (inclusive) of ``run``."""

    run: RunRef
    low: int
    high: int


def slice_seqs() -> int:
    """``SLICE_SEQS``, read when asked (tests slice small runs finely by setting it)."""
    return SLICE_SEQS


def run_slices(db: Store, runs: Sequence[RunRef]) -> list[RunSlice]:
    """The slices of ``slice_seqs()`` seqs that cover each of ``runs`` from its first stored
    seq to its last, run by run; none for a run without events."""
    size = slice_seqs()
    slices: list[RunSlice] = []
    for run in runs:
        first, last = seq_span(db, run)
        if first is None or last is None:
            continue
        slices.extend(
            RunSlice(run, low, min(low + size - 1, last)) for low in range(first, last + 1, size)
        )
    return slices


def seq_span(db: Store, run: RunRef) -> tuple[int | None, int | None]:
    """The first and last seq ``run`` stored (None, None when it stored none)."""
    span = fetch_records(db, "run_seq_range", {"run_no": run.run_no})[0]
    return span["first_seq"], span["last_seq"]


def reported(items: Sequence[object], progress: Progress | None) -> Iterator[int]:
    """The indexes of ``items``, telling ``progress`` after each one is done: ``for i in
    reported(slices, progress)`` counts slices as the loop body finishes them."""
    for index in range(len(items)):
        yield index
        if progress is not None:
            progress(index + 1, len(items))


def part(progress: Progress | None, index: int, parts: int) -> Progress | None:
    """The progress of part ``index`` (from 0) of ``parts`` parts of one piece of work, told to
    ``progress`` in thousandths of the whole: for a helper that calls several slice-by-slice
    helpers (an analysis, a comparison) and reports once for all of them."""
    if progress is None:
        return None
    whole = progress

    def report(done: int, total: int) -> None:
        whole(index * 1000 + 1000 * done // max(total, 1), parts * 1000)

    return report
