"""Storage: the run database's schema, how it is opened, and how batches are written.

``persistence.Store`` is the contract; ``duckdb_store`` (an embedded file, the default) and
``postgres`` (a shared server) implement it; ``open_store`` picks one by path or URL.
"""

from eventstore.store.store import DEFAULT_DB, Store, db_shown, is_url, open_store

__all__ = ["DEFAULT_DB", "Store", "db_shown", "is_url", "open_store"]
