"""How much memory DuckDB may take while a store is read, and where it spills.

DuckDB's own limit is 80% of RAM, and it keeps every block it has read cached up to that limit,
so without a cap a process reading a store grows by the size of what it read, and a query whose
join or aggregate outgrows the machine fails rather than spills. A store therefore caps its
DuckDB instance at ``READ_MEMORY_LIMIT`` once it is open: operators that can spill (hash joins,
aggregates, sorts, windows) write to a temporary directory past it, and cached blocks are
dropped. Tracing lowers the cap further while a run is written (``TRACING_MEMORY_LIMIT`` in
``duckdb_writer.py``) and puts this one back after.

Measured on a run of 5.5 million events (21 million deliveries) and a sweep of 20 runs of
310 000 events, with the queries reading a slice of a run at a time (``queries/slices.py``):
TODO(measurements).

Some operators cannot spill (a recursive CTE's working set, ``quantile_cont``'s values, a
``list()`` aggregate): a query of a user's own that needs more than the cap for them is run once
more with DuckDB's own limit rather than failing, as it ran before the cap (``lifted``).

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
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb

logger = logging.getLogger(__name__)

READ_MEMORY_LIMIT = "256MB"
"""DuckDB's memory while a store is read (see the module's docstring for what it costs)."""


class MemoryCap:
    """The cap of one store's DuckDB instance, lifted while a query that cannot live under it
    runs (``lifted``), and put back when the last such query ends."""

    def __init__(self, con: duckdb.DuckDBPyConnection, private_spill: bool) -> None:
        """Cap the instance of ``con``; with ``private_spill``, spill to a directory of this
        store's own."""
        if private_spill:
            folder = os.path.join(tempfile.gettempdir(), f"eventstore-spill-{uuid.uuid4().hex}")
            con.execute(f"SET temp_directory = '{folder}'")
        con.execute(f"SET memory_limit = '{READ_MEMORY_LIMIT}'")
        self._lock = threading.Lock()
        self._lifted = 0
        self._capped = READ_MEMORY_LIMIT

    @contextmanager
    def lifted(self, con: duckdb.DuckDBPyConnection) -> Iterator[None]:
        """DuckDB's own limit while the block runs; the cap the instance had (this one, or
        the tracer's while a run is written) comes back after. The limit is the instance's:
        a query another thread runs meanwhile runs uncapped too."""
        with self._lock:
            if not self._lifted:
                row = con.execute("SELECT current_setting('memory_limit')").fetchone()
                self._capped = str(row[0]) if row else READ_MEMORY_LIMIT
                con.execute("RESET memory_limit")
            self._lifted += 1
        logger.info("a query needed more than %s of memory: ran it again uncapped", self._capped)
        try:
            yield
        finally:
            with self._lock:
                self._lifted -= 1
                if not self._lifted:
                    con.execute(f"SET memory_limit = '{self._capped}'")
