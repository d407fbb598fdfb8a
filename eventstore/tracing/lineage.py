"""Causes a publisher names (``caused_by=``, ``parents=``), for the pure-Python recorder; the
compiled recorder does the same in C (``_recorder.c``), and one contract suite checks both.

The common case needs none of this (the cause is the event being handled). When a publisher
names parents, this resolves them to seqs and keeps the pruning promise (``DESIGN.md``:
ancestors of X have seq in ``[root_seq, X]``, descendants in ``(X, end_seq]``): a parent
published earlier, outside this dispatch, and all of its ancestors must get an ``end_seq`` that
reaches the new child. Ancestors are found among recent events (the recorder's buffer, then the
tracer's ring of recent batches); one that left both makes its ancestors' ends unknowable here
(``lineage_exact`` turns false) and gives its child root 1, a true lower bound. The store's
writers then recompute the run's bounds from its stored lineage when it ends
(``eventstore/store/bounds.py``), so queries prune it again.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from eventstore.tracing.ids import seq_in
from eventstore.tracing.recorder import Lookup, Parent

Links = tuple[int | None, int | None, tuple[tuple[str, int], ...]]
"""Named causes resolved to seqs: (the named primary cause, or None for the event being handled
now; the smallest ``root_seq`` among the named parents, or None; extra edges as
``(kind, parent seq)``)."""


EDGE_SHAPE = "parents takes (kind, parent) pairs, e.g. parents=[('priced_by', bar)], got %r"
"""Same text as ``EDGE_SHAPE`` in ``_recorder.c``: ``parents`` that is no list of pairs."""
PARENT_SHAPE = "a parent is an Event published on this tracer's bus or its event_id, got %s %r"
"""Same text as ``PARENT_SHAPE`` in ``_recorder.c``: a parent with no ``metadata``."""


NEVER_PUBLISHED = (
    "the %s named as a parent was never published, so it has no event_id: publish it on this "
    "tracer's bus before naming it as a parent"
)
"""Same text as in ``_recorder.c``."""


class Buffer(Protocol):
    """What lineage reads and raises in its recorder's buffer."""

    @property
    def event_count(self) -> int: ...

    def raise_end(self, seq: int, end: int) -> None: ...

    def lookup(self, seq: int) -> tuple[int | None, int] | None: ...


class Lineage:
    """Named parents of one run, resolved against its recorder and its ring of recent events."""

    def __init__(
        self, run_id: str, id_prefix: str, recorder: Buffer, recent: Lookup, memory: int
    ) -> None:
        self.run_id = run_id
        self.exact = True
        self._prefix = id_prefix
        self._recorder = recorder
        self._recent = recent
        self._memory = max(memory, 1)
        # seq → every parent of an event published with named parents (its primary cause
        # included), for walking up through it later; bounded like the ring.
        self._named: dict[int, tuple[int, ...]] = {}
        self._forgotten = 0  # the largest seq dropped from _named

    def links(self, caused_by: Parent | None, parents: Iterable[tuple[str, Parent]]) -> Links:
        cause = None if caused_by is None else self._resolve(caused_by)
        extra: list[tuple[str, int]] = []
        try:
            edges = tuple(parents)
        except TypeError:
            raise TypeError(EDGE_SHAPE % (parents,)) from None
        for edge in edges:
            if not isinstance(edge, tuple | list) or len(edge) != 2:
                raise TypeError(EDGE_SHAPE % (edge,))
            kind, parent = edge
            if not isinstance(kind, str) or not kind:
                raise ValueError(f"a lineage edge kind must be a non-empty string, got {kind!r}")
            extra.append((kind, self._resolve(parent)))
        named = ([] if cause is None else [cause]) + [seq for _, seq in extra]
        min_root = min((self._root_of(seq) for seq in named), default=None)
        return cause, min_root, tuple(extra)

    def remember(self, seq: int, parents: tuple[int, ...]) -> None:
        """Note the parents of event ``seq`` (its primary cause first), just ended."""
        self._named[seq] = parents
        if len(self._named) > 2 * self._memory:
            for old in sorted(self._named)[: len(self._named) - self._memory]:
                del self._named[old]
                self._forgotten = max(self._forgotten, old)

    def raise_ends(self, parents: tuple[int, ...], end: int) -> None:
        """Make the ``end_seq`` of ``parents`` and all their ancestors reach ``end``."""
        pending = list(parents)
        seen: set[int] = set()
        while pending:
            seq = pending.pop()
            if seq in seen:
                continue
            seen.add(seq)
            self._recorder.raise_end(seq, end)
            named = self._named.get(seq)
            if named is not None:
                pending.extend(named)
                continue
            found = self._lookup(seq)
            if found is None or seq <= self._forgotten:
                # Its named parents, if it had any, are forgotten: the bounds may be short.
                self.exact = False
            if found is not None and found[0] is not None:
                pending.append(found[0])

    def _lookup(self, seq: int) -> tuple[int | None, int] | None:
        return self._recorder.lookup(seq) or self._recent(seq)

    def _root_of(self, seq: int) -> int:
        found = self._lookup(seq)
        if found is None:
            self.exact = False
            return 1  # the smallest seq: still a true lower bound of its ancestors
        return found[1]

    def _resolve(self, parent: Parent) -> int:
        """The seq of a named parent: an Event published on this tracer, or its event_id."""
        if isinstance(parent, str):
            pid: object = parent
        elif hasattr(parent, "metadata"):
            pid = parent.metadata.get("event_id")
        else:
            raise TypeError(PARENT_SHAPE % (type(parent).__name__, parent))
        if pid is None:
            raise ValueError(NEVER_PUBLISHED % type(parent).__name__)
        seq = seq_in(pid, self._prefix) if isinstance(pid, str) else None
        if seq is None or not 0 < seq <= self._recorder.event_count:
            raise ValueError(
                f"parent {pid!r} is not an event of run {self.run_id}: name a parent "
                "by an Event published on this tracer's bus or by its event_id"
            )
        return seq
