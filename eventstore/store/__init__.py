"""Storage: the run database's schema, how it is opened, and how batches are written."""

from eventstore.store.store import DEFAULT_DB, Store, open_store

__all__ = ["DEFAULT_DB", "Store", "open_store"]
