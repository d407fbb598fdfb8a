"""A DuckDB run store's file, checked and connected to: every failure on the way in (a
directory, a file of another kind, a missing or read-only folder, a lock another process
holds, permissions) becomes one of our errors naming the problem and the fix, not DuckDB's."""

from __future__ import annotations

import re
import tempfile
import time
from pathlib import Path

import duckdb

from eventstore.errors import StoreError, StoreLockedError
from eventstore.store.targets import DEFAULT_DB


def check_path(path: Path, read_only: bool) -> None:
    """Refuse, before DuckDB sees it, a path it would open wrongly or fail on late."""
    if path.is_dir():
        raise StoreError(
            f"{path} is a directory: give the path of a database file, e.g. {path / DEFAULT_DB}"
        )
    if path.is_file() and not is_duckdb_file(path):
        # Checked here, not left to DuckDB: it opens a CSV, Parquet or JSON file as an
        # in-memory database over that file, so a run traced "into" prices.csv would vanish.
        empty = path.stat().st_size == 0
        raise StoreError(
            f"{path} is {'an empty file, ' if empty else ''}not a DuckDB database: pass the "
            f"path of an eventstore database, or a new file name to create one"
            + (" (or delete it)" if empty else "")
        )
    if not path.exists() and read_only:
        raise StoreError(
            f"no run database at {path}: trace a run into it first (your program's "
            f"EventTracer, or the demo: eventstore run --db {path}) or pass the right --db"
        )
    if not path.parent.exists():
        raise StoreError(f"cannot create {path}: directory {path.parent} does not exist")
    if not read_only and not writable(path.parent):
        # DuckDB writes a write-ahead log beside the file: a read-only directory fails
        # at the first commit, long after the open.
        raise StoreError(
            f"cannot write {path}: its directory is read-only (DuckDB keeps {path.name}.wal "
            "beside the database): use a writable directory with --db"
        )


DUCKDB_MAGIC = b"DUCK"
"""What bytes 8 to 12 of every DuckDB database file hold (after a checksum)."""


def is_duckdb_file(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(12)[8:] == DUCKDB_MAGIC
    except OSError:
        return True  # unreadable: DuckDB's own error says why (permission denied, …)


def writable(folder: Path) -> bool:
    """Whether a file can be created in ``folder``: tried, since permissions alone miss
    read-only mounts and immutable directories (and say yes to root)."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def connect(path: Path, read_only: bool, wait: float) -> duckdb.DuckDBPyConnection:
    """Connect, waiting up to ``wait`` seconds for a writer that holds the file to let go."""
    deadline = time.monotonic() + wait
    delay = 0.05
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.Error as exc:
            error = open_error(path, exc, read_only)
            if not isinstance(error, StoreLockedError) or time.monotonic() + delay > deadline:
                raise error from None
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


_DENIED = ("permission denied", "operation not permitted", "read-only file system")


def open_error(path: Path, exc: duckdb.Error, read_only: bool) -> StoreError:
    """DuckDB's failure to open ``path`` as our error: who holds the lock, or what to fix."""
    message = str(exc)
    if "lock" in message.lower():
        pid = re.search(r"PID (\d+)", message)
        holder = f"process {pid.group(1)}" if pid else "another process"
        if read_only:
            return StoreLockedError(
                f"{path} is being written by {holder} (a traced run holds the file until it "
                "ends, and DuckDB lets no reader in meanwhile): wait for that run to finish, "
                "or query a copy of the file"
            )
        return StoreLockedError(
            f"{path} is in use by {holder} (DuckDB lets a process write a file only while no "
            "other process has it open, even to read): wait for it to finish or stop it, or "
            "trace this run into another file with --db"
        )
    lowered = message.lower()
    if "different configuration" in lowered:  # DuckDB: one configuration per file and process
        held, asked = ("read-write", "read-only") if read_only else ("read-only", "read-write")
        return StoreError(
            f"{path} is already open {held} in this process, so it can't be opened {asked} "
            "too: pass that store (what open_store returned) instead of the path, or close "
            "it first"
        )
    if any(denied in lowered for denied in _DENIED):
        fix = "check the file's permissions"
        if not read_only:
            fix += ", or open it read-only (open_store(path, read_only=True))"
        return StoreError(f"cannot open {path} ({message.splitlines()[0]}): {fix}")
    return StoreError(
        f"{path} is not a DuckDB database ({message.splitlines()[0]}): pass the path of an "
        "eventstore database, or a new file name to create one"
    )
