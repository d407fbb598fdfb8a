"""How query helpers get at a store: any helper takes an open ``Store`` (used as is, left open)
or a path/URL (opened read-only for the call, closed after, with DuckDB's memory capped as
eventstore caps what it opens for itself: ``eventstore.store.duckdb_memory``), so scripts can
pass a file name and long-lived programs can reuse one connection."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeAlias

from eventstore.store import Store, open_store
from eventstore.store.duckdb_memory import read_memory_limit

StoreLike: TypeAlias = Store | str | os.PathLike[str]


@contextmanager
def opened(store: StoreLike) -> Iterator[Store]:
    """Yield ``store`` itself, or a read-only store opened from a path/URL and closed after."""
    if isinstance(store, Store):
        yield store
        return
    with open_store(store, read_only=True, memory_limit=read_memory_limit()) as fresh:
        yield fresh
