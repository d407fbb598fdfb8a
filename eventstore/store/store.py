"""open_store: the one way in to a run database, whatever its backend.

A path (or ``duckdb:///path``) is an embedded DuckDB file (``duckdb_store.py``); a
``postgresql+psycopg://user@host:port/db`` URL is a PostgreSQL database (``postgres.py``).
Either way the schema is created or upgraded on open (unless ``read_only``), and runs left
``running`` by a writer that is gone are marked ``crashed``. ``Store`` is the contract both
implement (``persistence.py``).
"""

from __future__ import annotations

import os
from pathlib import Path

import sqlalchemy as sa

from eventstore.errors import StoreError
from eventstore.store.duckdb_store import DuckDBStore, open_duckdb
from eventstore.store.persistence import Store
from eventstore.store.postgres import PostgresStore, is_postgres, open_postgres
from eventstore.store.targets import DEFAULT_DB, is_url, without_password

__all__ = [
    "DEFAULT_DB",
    "DuckDBStore",
    "PostgresStore",
    "Store",
    "is_url",
    "open_store",
    "without_password",
]


def open_store(
    url_or_path: str | os.PathLike[str] = DEFAULT_DB,
    *,
    read_only: bool = False,
    wait: float = 2.0,
    memory_limit: str | None = None,
) -> Store:
    """Open (creating and upgrading unless ``read_only``) the run database at a path or URL.

    A DuckDB path or ``duckdb:///path`` URL is embedded; a directory holding a Parquet
    dataset (``eventstore.store.dataset``) opens read-only; ``postgresql+psycopg://…`` is a
    PostgreSQL server.
    DuckDB lets one process write a file and nobody else open it meanwhile: if another process
    holds it, this waits up to ``wait`` seconds for it to let go, then raises
    ``StoreLockedError`` naming that process. A PostgreSQL server takes any number of writers.
    ``memory_limit`` (e.g. ``"128MB"``) caps a DuckDB store's memory once it is open: past it,
    joins, aggregates and sorts spill to a temporary directory and cached blocks are dropped
    (``eventstore.store.duckdb_memory`` says what it costs); None keeps DuckDB's own limit,
    80% of RAM. A PostgreSQL server's memory is its own: the argument is ignored there.
    """
    if not isinstance(url_or_path, str | os.PathLike):
        raise TypeError(
            f"open_store takes a DuckDB file path or a database URL, got "
            f"{type(url_or_path).__name__}: {_KINDS}"
        )
    if isinstance(wait, bool) or not isinstance(wait, int | float) or not wait >= 0:
        raise ValueError(f"wait must be a number of seconds >= 0, got {wait!r}")
    target = os.fspath(url_or_path)
    if not is_url(target):
        from eventstore.store import dataset

        if dataset.is_dataset(Path(target)):  # a Parquet dataset is opened read-only
            return dataset.open_dataset(Path(target), memory_limit)
        return open_duckdb(Path(target), read_only, wait, memory_limit=memory_limit)
    try:
        url = sa.make_url(target)
    except sa.exc.ArgumentError:
        raise StoreError(f"{without_password(target)!r} is not a database URL: {_KINDS}") from None
    except ValueError:  # SQLAlchemy's int() of a port that is no number
        raise StoreError(
            f"{without_password(target)!r} is not a database URL (its port must be a number, "
            f"as in :5432): {_KINDS}"
        ) from None
    if url.get_backend_name() == "duckdb":
        path = Path(url.database or ":memory:")
        return open_duckdb(path, read_only, wait, memory_limit=memory_limit)
    if is_postgres(url):
        return open_postgres(url, read_only)
    raise StoreError(f"{url.get_backend_name()} databases are not supported: {_KINDS}")


_KINDS = (
    "pass a DuckDB file path (runs.duckdb) or a PostgreSQL URL "
    "(postgresql+psycopg://user@host:5432/db)"
)
