"""eventstore's own errors: raised at the boundary, each naming the problem and the fix."""

from __future__ import annotations


class EventStoreError(Exception):
    """Base of every error eventstore raises on purpose."""


class StoreError(EventStoreError):
    """The database can't be opened or used (not a DuckDB file, a directory, unreadable…)."""


class StoreLockedError(StoreError):
    """Another process holds the DuckDB file (writing it, or reading it while we would write)."""


class RunEndNotRecordedError(StoreError):
    """A run ended but its PostgreSQL store could not record the end (the server went away):
    the store holds the run ``running`` with what was committed, and its next open marks it
    ``crashed``. Whoever reports the run should say ``crashed`` too."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason
        """Why the end could not be recorded, in a few words (the driver's first line)."""


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


def first_line(exc: BaseException) -> str:
    """An exception's message in one line for an error of ours (drivers' messages run to
    several, with hints meant for other programs), or its type's name if it has none."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
