"""The tail sampler: decides, batch by batch, which drained events a sampled run stores.

Why tail-based and why it holds rows: whether an event matters is known only at the tail of
its causal tree (a BAR matters if, bars later, it priced a FILL). On a synchronous bus every
descendant of an event lies in ``(seq, end_seq]`` (``DESIGN.md``; links a publisher names raise
``end_seq`` to reach them), so an event is *decided* once its dispatch ended (``emitted_ns``
known), ``hold_events`` more events were published after its ``end_seq``, and everything in its
range is decided too. Undecided events wait here for the next batch; rows leave in seq order,
so stored batches stay sorted and a segment's rows stay one seq range.

A decided event is stored when a *marked* event lies in it or its range, and edges then mark
its named parents too: marked are events of a kept type, events with a failed delivery, and
events whose hash draw falls below ``fraction``. An event's range holds its descendants and
whatever was published while it was dispatched, so this may keep a few more events than
needed, never fewer: every stored event's ``why`` chain is complete. Sampled-out events take
their edges and deliveries with them; stored events keep their ``root_seq``/``end_seq`` (seq
then has gaps). What each type lost is counted in ``sampled_out``.

Memory is bounded by ``max_held_events``: past it, the oldest undecided events are stored
(``forced``). A link named after its parent was decided and sampled out (later than
``hold_events``) can't bring it back: such edges are stored and counted in ``late_links``.
"""

from __future__ import annotations

import bisect
from collections import Counter
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from eventstore.tracing.sampling import Sampling
from eventstore.tracing.writer import DELIVERIES_SCHEMA, EDGES_SCHEMA, EVENTS_SCHEMA

Released = tuple[pa.Table, pa.Table, pa.Table, pa.Table]
"""Rows to store: events, edges, deliveries, end updates (the writer's schemas)."""

Flags = npt.NDArray[np.bool_]
Ints = npt.NDArray[np.int64]

_MASK64 = 2**64 - 1
_GOLDEN = 0x9E3779B97F4A7C15


def sample_draws(seed: int, seqs: Ints) -> npt.NDArray[np.float64]:
    """One uniform draw in [0, 1) per seq: SplitMix64 of (seed, seq), the same on any machine
    and in any run, so a run sampled twice stores the same events."""
    offset = np.uint64(((seed + 1) * _GOLDEN) & _MASK64)
    x = seqs.astype(np.uint64) * np.uint64(_GOLDEN) + offset
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    x = x ^ (x >> np.uint64(31))
    return (x >> np.uint64(11)).astype(np.float64) / float(2**53)


class TailSampler:
    """One run's sampling state: the rows still undecided and what was decided so far."""

    def __init__(self, sampling: Sampling) -> None:
        self.sampling = sampling
        self.sampled_out: Counter[str] = Counter()
        self.forced = 0
        self.late_links = 0
        self._events = EVENTS_SCHEMA.empty_table()
        self._edges = EDGES_SCHEMA.empty_table()
        self._deliveries = DELIVERIES_SCHEMA.empty_table()
        self._starts: list[int] = []  # first seq of each released range
        self._kept: list[tuple[int, npt.NDArray[np.uint8]]] = []  # (length, packed kept bits)

    @property
    def held(self) -> int:
        """Events waiting for a decision."""
        return int(self._events.num_rows)

    def record(self) -> dict[str, Any]:
        """The run's ``sampling`` column: the configuration and what it left out."""
        return {
            **self.sampling.record(),
            "sampled_out": dict(sorted(self.sampled_out.items())),
            "sampled_out_total": sum(self.sampled_out.values()),
            "forced": self.forced,
            "late_links": self.late_links,
        }

    def take(
        self,
        events: pa.Table,
        edges: pa.Table,
        deliveries: pa.Table,
        end_updates: pa.Table,
        names: tuple[str, ...],
        *,
        final: bool,
    ) -> Released:
        """Add one drain's rows; return those decided and stored, in seq order. ``final``
        (the run is closing) decides everything."""
        held = _concat(self._events, events)
        held_edges = _concat(self._edges, edges)
        held_deliveries = _concat(self._deliveries, deliveries)
        n = held.num_rows
        first = int(held["seq"][0].as_py()) if n else 1 << 62
        late = end_updates.filter(pc.less(end_updates["seq"], first))
        if n == 0:
            self._events, self._edges, self._deliveries = held, held_edges, held_deliveries
            return held, held_edges, held_deliveries, self._if_kept(late, "seq")
        if int(held["seq"][n - 1].as_py()) - first != n - 1:  # not one seq range: never
            raise ValueError(f"sampling needs batches in seq order; got seqs {first}..")
        held, finished, ends = _with_updates(
            held, end_updates.filter(pc.greater_equal(end_updates["seq"], first)), first
        )
        last = first + n - 1
        index = np.arange(n, dtype=np.int64)
        reach = np.where(finished, np.minimum(ends, last), last) - first  # range end, as index

        def in_range(flags: Flags) -> Flags:
            """Whether a flagged event lies in each event's range (seq, end_seq]."""
            counts = np.concatenate(([0], np.cumsum(flags, dtype=np.int64)))
            result: Flags = counts[reach + 1] - counts[index + 1] > 0
            return result

        if final:
            cut = n
            undecided = np.zeros(n, dtype=np.bool_)
        else:
            waiting = ~finished | (ends + self.sampling.hold_events > last)
            undecided = waiting | in_range(waiting)
            cut = int(np.argmax(undecided)) if undecided.any() else n
            cut = max(cut, n - self.sampling.max_held_events)
        forced = undecided & (index < cut)
        self.forced += int(forced.sum())
        marked = self._marked(held, held_deliveries, names, first) | forced | ~finished
        kept = marked | in_range(marked)
        kept = self._close_over_edges(kept, held_edges, first)

        stored = held.slice(0, cut).filter(pa.array(kept[:cut]))
        dropped_types = held["type_code"].to_numpy()[:cut][~kept[:cut]]
        for code, count in enumerate(np.bincount(dropped_types)):
            if count:
                self.sampled_out[names[code]] += int(count)
        self._starts.append(first)
        self._kept.append((cut, np.packbits(kept[:cut])))
        released_edges, self._edges = _split(held_edges, "child_seq", first, cut, kept)
        released_deliveries, self._deliveries = _split(held_deliveries, "seq", first, cut, kept)
        self._events = held.slice(cut)
        return stored, released_edges, released_deliveries, self._if_kept(late, "seq")

    def _marked(
        self, held: pa.Table, deliveries: pa.Table, names: tuple[str, ...], first: int
    ) -> Flags:
        keep = self.sampling.keep_types
        codes = [code for code, name in enumerate(names) if name in keep]
        marked: Flags = np.isin(held["type_code"].to_numpy(), codes)
        failed = deliveries.filter(pc.is_valid(deliveries["error"]))["seq"].to_numpy() - first
        marked[failed[failed >= 0]] = True
        if self.sampling.fraction > 0:
            seqs = held["seq"].to_numpy()
            marked |= sample_draws(self.sampling.seed, seqs) < self.sampling.fraction
        return marked

    def _close_over_edges(self, kept: Flags, edges: pa.Table, first: int) -> Flags:
        """Mark the named parents of stored events (their ranges already cover them when
        lineage is exact); count links to parents already sampled out."""
        children = edges["child_seq"].to_numpy() - first
        parents = edges["parent_seq"].to_numpy() - first
        inside = parents >= 0
        while True:
            need = inside & kept[children] & ~kept[np.where(inside, parents, 0)]
            if not need.any():
                break
            kept[parents[need]] = True
        outside = ~inside & kept[children]
        if outside.any():
            gone = ~self._was_kept(parents[outside] + first)
            self.late_links += int(gone.sum())
        return kept

    def _was_kept(self, seqs: Ints) -> Flags:
        """Whether each already released seq was stored."""
        result = np.zeros(len(seqs), dtype=np.bool_)
        for i, seq in enumerate(seqs.tolist()):
            at = bisect.bisect_right(self._starts, seq) - 1
            if at >= 0:
                length, bits = self._kept[at]
                offset = seq - self._starts[at]
                if offset < length:
                    result[i] = bool(bits[offset >> 3] >> (7 - (offset & 7)) & 1)
        return result

    def _if_kept(self, table: pa.Table, column: str) -> pa.Table:
        if table.num_rows == 0:
            return table
        return table.filter(pa.array(self._was_kept(table[column].to_numpy())))


def _concat(held: pa.Table, new: pa.Table) -> pa.Table:
    if held.num_rows == 0:
        return new
    if new.num_rows == 0:
        return held
    return pa.concat_tables([held, new]).combine_chunks()


def _with_updates(held: pa.Table, updates: pa.Table, first: int) -> tuple[pa.Table, Flags, Ints]:
    """``held`` with its end updates applied: (table, dispatch ended, end_seq or -1)."""
    ends: Ints = pc.fill_null(held["end_seq"], -1).to_numpy().astype(np.int64)
    emitted_column = held["emitted_ns"]
    emitted: Ints = pc.fill_null(emitted_column, 0).to_numpy().astype(np.int64)
    has_emitted: Flags = pc.is_valid(emitted_column).to_numpy(zero_copy_only=False).copy()
    if updates.num_rows:
        at = updates["seq"].to_numpy() - first
        np.maximum.at(ends, at, updates["end_seq"].to_numpy())
        valid = pc.is_valid(updates["emitted_ns"]).to_numpy(zero_copy_only=False)
        emitted[at[valid]] = pc.fill_null(updates["emitted_ns"], 0).to_numpy()[valid]
        has_emitted[at[valid]] = True
        held = held.set_column(
            held.schema.get_field_index("end_seq"), "end_seq", pa.array(ends, mask=ends < 0)
        ).set_column(
            held.schema.get_field_index("emitted_ns"),
            "emitted_ns",
            pa.array(emitted, mask=~has_emitted),
        )
    return held, has_emitted & (ends >= 0), ends


def _split(
    table: pa.Table, column: str, first: int, cut: int, kept: Flags
) -> tuple[pa.Table, pa.Table]:
    """Rows of events before ``cut`` that are stored, and rows of events still held."""
    at = table[column].to_numpy() - first
    leaving = at < cut
    stored = leaving & kept[np.where(leaving, at, 0)]
    return table.filter(pa.array(stored)), table.filter(pa.array(~leaving))
