"""eventstore's own errors: raised at the boundary, each naming the problem and the fix."""

from __future__ import annotations


class EventStoreError(Exception):
    """Base of every error eventstore raises on purpose."""


class StoreError(EventStoreError):
    """The database can't be opened or used (not a DuckDB file, a directory, unreadable…)."""


class StoreLockedError(StoreError):
    """Another process holds the DuckDB file (writing it, or reading it while we would write)."""


class SchemaVersionError(StoreError):
    """The database's schema is newer than this eventstore, or not an eventstore schema."""


class TraceWriteError(EventStoreError, RuntimeError):
    """Writing a batch failed (full disk, lost file…): the run is ``failed`` and nothing after
    the failure is stored. Still a ``RuntimeError``, as it was before it joined this family."""


class ConfigError(EventStoreError):
    """A configuration file or value is invalid."""


class DataError(EventStoreError):
    """Input market data is malformed."""


class QueryError(EventStoreError):
    """A query's input is invalid: unknown or ambiguous id, rejected SQL, bad parameter."""


class RunClosedError(EventStoreError):
    """An event was published to, or a flush asked of, a tracer whose run has ended."""


class OutputError(EventStoreError):
    """An output file can't be written: its folder is missing or read-only, or the format is
    unknown."""
