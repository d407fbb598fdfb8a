"""A run's lineage bounds recomputed from its stored lineage, when the recorder lost track.

Queries prune by two bounds on every event (``DESIGN.md``): its ancestors have seqs in
``[root_seq, seq]`` and its descendants in ``(seq, end_seq]``. The recorder keeps them exact as
it records, walking up from each new event through the events it still holds in memory. A
parent named after it left memory (``caused_by=``/``parents=`` more than the tracer's ring of
events back) stops that walk: its ancestors' ends may fall short, the child gets root 1, and the
run is recorded ``lineage_exact = false``, so every ``effects`` query on it scans the whole run
(hundreds of milliseconds on a million events, not a few). When the run ends the store holds
its whole lineage, so the writer recomputes both bounds from it (``exact_bounds``), stores the
rows that differ and records the run exact again.

A parent's seq is always smaller than its child's, so one pass forward gives every root (the
smallest root among an event's parents, else its own seq) and one pass backward every end (the
largest end among an event's children, else its own seq).
"""

from __future__ import annotations

from array import array
from collections import defaultdict

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

BOUNDS_SCHEMA = pa.schema([("seq", pa.int64()), ("root_seq", pa.int64()), ("end_seq", pa.int64())])


def exact_bounds(events: pa.Table, edges: pa.Table) -> pa.Table | None:
    """The rows of ``events`` (``seq``, ``causation_seq``, ``root_seq``, ``end_seq``: one
    run's, every seq from 1 on) whose bounds differ from those their lineage gives, with the
    exact ones (``BOUNDS_SCHEMA``); ``edges`` are the run's (``parent_seq``, ``child_seq``).
    None when seqs are missing (a sampled run): its lineage is not all stored, so it cannot
    be recomputed."""
    count = events.num_rows
    if count == 0:
        return BOUNDS_SCHEMA.empty_table()
    seqs = _int64(events.column("seq"))
    if not np.array_equal(seqs, np.arange(1, count + 1)):
        return None
    # Index i is seq i + 1. array('q'): 8 bytes an event, and cheaper to index in a Python
    # loop than numpy's arrays (each of whose items becomes a numpy scalar).
    causes = _as_array(_int64(events.column("causation_seq").fill_null(0)) - 1)  # -1: none
    extra: defaultdict[int, list[int]] = defaultdict(list)  # child → its other parents
    for parent, child in zip(
        _int64(edges.column("parent_seq")) - 1, _int64(edges.column("child_seq")) - 1, strict=True
    ):
        if 0 <= parent < count and 0 <= child < count and parent != causes[child]:
            extra[int(child)].append(int(parent))
    roots = _as_array(seqs)
    for i in range(count):
        cause = causes[i]
        root = roots[i] if cause < 0 else roots[cause]
        for parent in extra.get(i, ()):
            root = min(root, roots[parent])
        roots[i] = root
    ends = _as_array(seqs)
    for i in range(count - 1, -1, -1):
        end = ends[i]
        cause = causes[i]
        if cause >= 0 and ends[cause] < end:
            ends[cause] = end
        for parent in extra.get(i, ()):
            if ends[parent] < end:
                ends[parent] = end
    new_roots = np.frombuffer(roots, dtype=np.int64)
    new_ends = np.frombuffer(ends, dtype=np.int64)
    changed = (new_roots != _int64(events.column("root_seq"))) | (
        new_ends != _int64(events.column("end_seq").fill_null(-1))
    )
    return pa.table(
        [pa.array(seqs[changed]), pa.array(new_roots[changed]), pa.array(new_ends[changed])],
        schema=BOUNDS_SCHEMA,
    )


def _int64(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(pc.cast(column, pa.int64()).to_numpy(), dtype=np.int64)


def _as_array(values: np.ndarray) -> array[int]:
    out = array("q")
    out.frombytes(np.ascontiguousarray(values, dtype=np.int64).tobytes())
    return out
