"""How much memory DuckDB may take while eventstore reads a store, and where it spills.

DuckDB's own limit is 80% of RAM, and it keeps every block it has read cached up to that limit,
so a process reading a store grows by the size of what it read, and a join or aggregate that
outgrows the machine fails rather than spills. A store opened with a ``memory_limit``
(``open_store(..., memory_limit="128MB")``) caps its DuckDB instance once it is open: past the
cap, operators that can spill (hash joins, aggregates, sorts, windows) write to a temporary
directory, and cached blocks are dropped. Tracing lowers it further while a run is written
(``TRACING_MEMORY_LIMIT`` in ``duckdb_writer.py``) and puts it back after.

Who is capped, and why not everyone. What eventstore opens for itself carries
``read_memory_limit()`` (``READ_MEMORY_LIMIT``, or ``EVENTSTORE_MEMORY_LIMIT``): every command,
the analysis ``eventstore run`` prints, and a query helper given a path rather than a store.
A store a program opens itself keeps DuckDB's own limit unless it asks: some operators cannot
spill (a recursive CTE's working set, ``quantile_cont``'s values, ``list()``), and a query run
on a raw ``store.cursor()`` can't be caught and run again. Measured: the unpruned recursive
CTE of ``benchmarks/bench_queries.py`` (10 runs of 1 million events) fails under a 256 MB cap.
A query of ours that fails that way (``fetch_arrow``, ``fetch_records``, a stream before its
first row) is run once more with DuckDB's own limit (``MemoryCap.lifted``), as it ran before.

Why 128 MB. Every query of the analysis commands reads a slice of a run at a time
(``queries/slices.py``) and runs under 64 MB without spilling; the rest of the cap is cache.
Measured (peak RSS of the command, by ``EVENTSTORE_MEMORY_LIMIT``: DuckDB's own, 512, 256 and
128 MB) on a run of 5.5 million events, two such runs compared, and a sweep of 20 runs of
310 000 events: ``analyze`` 512, 502, 485, 366 MB; ``compare`` 961, 736, 486, 360 MB;
``latency`` over the sweep 442, 438, 445, 338 MB. Wall times (``analyze`` 2.1 to 2.5 s,
``compare`` 2.9 to 5.3 s, ``latency`` 1.3 to 1.8 s, three tries each) moved with the
machine's load, not with the cap: a block dropped from the cache is read again from the
operating system's page cache.

Spill files go where DuckDB puts them for a database it can write (``<file>.tmp`` beside it);
a read-only or in-memory store (a reader of someone else's file, a Parquet dataset) spills to a
directory of its own under the system's temporary directory, which DuckDB creates only if it
spills and removes when the store closes. Readers never share one: DuckDB names its spill
files alike in every process.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import duckdb

from eventstore.errors import StoreError

logger = logging.getLogger(__name__)
T = TypeVar("T")

READ_MEMORY_LIMIT = "128MB"
"""DuckDB's memory when eventstore reads a store for itself (see the module's docstring)."""
LIMIT_VARIABLE = "EVENTSTORE_MEMORY_LIMIT"
"""Environment variable that replaces ``READ_MEMORY_LIMIT`` (e.g. ``2GB``)."""


def read_memory_limit() -> str:
    """The cap of the stores eventstore opens for itself: ``$EVENTSTORE_MEMORY_LIMIT`` if set,
    else ``READ_MEMORY_LIMIT``."""
    return os.environ.get(LIMIT_VARIABLE, "").strip() or READ_MEMORY_LIMIT


class MemoryCap:
    """The cap of one store's DuckDB instance, lifted while a query that cannot live under it
    runs (``lifted``), and put back when the last such query ends."""

    def __init__(self, con: duckdb.DuckDBPyConnection, limit: str, private_spill: bool) -> None:
        """Cap the instance of ``con`` at ``limit``; with ``private_spill``, spill to a
        directory of this store's own."""
        if private_spill:
            folder = os.path.join(tempfile.gettempdir(), f"eventstore-spill-{uuid.uuid4().hex}")
            con.execute("SET temp_directory = ?", [folder])
        try:
            con.execute("SET memory_limit = ?", [limit])
        except duckdb.Error:
            raise StoreError(
                f"memory limit {limit!r} is not a size: give one such as '128MB' or '2GB' "
                f"(open_store's memory_limit, or ${LIMIT_VARIABLE})"
            ) from None
        self._lock = threading.Lock()
        self._lifted = 0
        self._capped = limit

    def run(self, con: duckdb.DuckDBPyConnection, query: Callable[[], T]) -> T:
        """``query()``; if DuckDB ran out of memory under the cap in an operator that cannot
        spill, ``query()`` again with DuckDB's own limit, as it ran before the cap."""
        try:
            return query()
        except duckdb.OutOfMemoryException:
            with self.lifted(con):
                return query()

    def stream(
        self, con: duckdb.DuckDBPyConnection, query: Callable[[], Iterator[T]]
    ) -> Iterator[T]:
        """The items of ``query()``, run once more uncapped as ``run`` does if it runs out of
        memory before its first item (after that, items are out: the error stands)."""
        started = False
        try:
            for item in query():
                started = True
                yield item
        except duckdb.OutOfMemoryException:
            if started:
                raise
            with self.lifted(con):
                yield from query()

    @contextmanager
    def lifted(self, con: duckdb.DuckDBPyConnection) -> Iterator[None]:
        """DuckDB's own limit while the block runs; the cap the instance had (this one, or
        the tracer's while a run is written) comes back after. The limit is the instance's:
        a query another thread runs meanwhile runs uncapped too."""
        with self._lock:
            if not self._lifted:
                row = con.execute("SELECT current_setting('memory_limit')").fetchone()
                self._capped = str(row[0]) if row else self._capped
                con.execute("RESET memory_limit")
            self._lifted += 1
        logger.info("a query needed more than %s of memory: ran it again uncapped", self._capped)
        try:
            yield
        finally:
            with self._lock:
                self._lifted -= 1
                if not self._lifted:
                    con.execute("SET memory_limit = ?", [self._capped])
