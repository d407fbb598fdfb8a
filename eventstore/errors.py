"""eventstore's own errors: raised at the boundary, each naming the problem and the fix."""

from __future__ import annotations


class EventStoreError(Exception):
    """Base of every error eventstore raises on purpose."""


class StoreError(EventStoreError):
    """The database can't be opened or used (not a DuckDB file, a directory, unreadable…)."""


class StoreLockedError(StoreError):
    """Another process holds the DuckDB file open for writing."""


class SchemaVersionError(StoreError):
    """The database's schema is newer than this eventstore, or not an eventstore schema."""


class ConfigError(EventStoreError):
    """A configuration file or value is invalid."""


class DataError(EventStoreError):
    """Input market data is malformed."""


class QueryError(EventStoreError):
    """A query's input is invalid: unknown or ambiguous id, rejected SQL, bad parameter."""


class OutputError(EventStoreError):
    """An output file can't be written: its folder is missing or read-only, or the format is
    unknown."""
