"""Storage: the run database's schema, how it is opened, and how batches are written.

``persistence.Store`` is the contract; ``duckdb_store`` (an embedded file, the default) and
``postgres`` (a shared server) implement it; ``open_store`` picks one by path or URL.

``Store`` and ``open_store`` are imported on first use (PEP 562): the backends pull in
DuckDB, SQLAlchemy and pyarrow, which the command line's ``--help`` never needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from eventstore.store.targets import DEFAULT_DB, is_url, without_password

if TYPE_CHECKING:
    from eventstore.store.store import Store, open_store

__all__ = ["DEFAULT_DB", "Store", "is_url", "open_store", "without_password"]


def __getattr__(name: str) -> Any:
    if name in ("Store", "open_store"):
        from eventstore.store import store

        return getattr(store, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
