"""open_store: the one way in to a run database, creating or upgrading its schema.

Every driver failure on the way in becomes one of our errors naming the problem and the fix.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import tempfile
import time
from pathlib import Path
from types import TracebackType

import duckdb
import sqlalchemy as sa
from duckdb_engine import ConnectionWrapper
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

from eventstore.errors import SchemaVersionError, StoreError, StoreLockedError
from eventstore.store.schema import SCHEMA_REVISION
from eventstore.store.segments import runs_with_segments, segments_root
from eventstore.tracing.writer import BatchWriter

logger = logging.getLogger(__name__)

DEFAULT_DB = "runs.duckdb"


class Store:
    """An open run database: the tracer writes to it, queries read from it.

    For DuckDB it owns one database instance per process; ``engine`` (SQLAlchemy) and
    ``cursor()`` (native DuckDB, for Arrow) are connections to that same instance.
    """

    def __init__(
        self, url: str, engine: Engine, duck: duckdb.DuckDBPyConnection | None, read_only: bool
    ) -> None:
        self.url = url
        self.engine = engine
        self.read_only = read_only
        self._duck = duck

    @property
    def dialect(self) -> str:
        return str(self.engine.dialect.name)

    @property
    def path(self) -> Path | None:
        """The database file, for DuckDB stores."""
        database = sa.make_url(self.url).database
        return Path(database) if self._duck is not None and database else None

    def connect(self) -> Connection:
        """A SQLAlchemy connection (use it as a context manager)."""
        return self.engine.connect()

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A native DuckDB connection to this store (DuckDB stores only)."""
        if self._duck is None:
            raise StoreError(f"{self.url} is not a DuckDB store: use connect() instead")
        return self._duck.cursor()

    def batch_writer(self) -> BatchWriter:
        """A writer for one new run (what ``EventTracer(store=...)`` asks for)."""
        if self.read_only:
            raise StoreError(
                f"{self.url} was opened read-only: open it with open_store(path) to trace into it"
            )
        if self._duck is None:
            raise StoreError(f"tracing into {self.dialect} is not supported yet: use a DuckDB file")
        from eventstore.store.bulk_writer import BulkDuckDBWriter

        path = self.path
        return BulkDuckDBWriter(self._duck.cursor(), None if path is None else segments_root(path))

    def close(self) -> None:
        self.engine.dispose()
        if self._duck is not None:
            self._duck.close()
            self._duck = None

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = "read-only" if self.read_only else "read-write"
        return f"Store({self.url!r}, {mode})"


def open_store(
    url_or_path: str | os.PathLike[str] = DEFAULT_DB,
    *,
    read_only: bool = False,
    wait: float = 2.0,
) -> Store:
    """Open (creating and upgrading unless ``read_only``) the run database at a path or URL.

    A DuckDB path or ``duckdb:///path`` URL is embedded; a directory holding a Parquet
    dataset (``eventstore.store.parquet``) opens read-only; anything else is a SQLAlchemy URL.
    DuckDB lets one process write a file and nobody else open it meanwhile: if another process
    holds it, this waits up to ``wait`` seconds for it to let go, then raises
    ``StoreLockedError`` naming that process.
    """
    target = os.fspath(url_or_path)
    if "://" not in target:
        from eventstore.store import parquet

        if parquet.is_dataset(Path(target)):  # a Parquet dataset is opened read-only
            return parquet.open_dataset(Path(target))
        return _open_duckdb(Path(target), read_only, wait)
    url = sa.make_url(target)
    if url.get_backend_name() == "duckdb":
        return _open_duckdb(Path(url.database or ":memory:"), read_only, wait)
    engine = sa.create_engine(url)
    store = Store(target, engine, None, read_only)
    _check_schema(store)
    return store


def _open_duckdb(path: Path, read_only: bool, wait: float, mark: bool = True) -> Store:
    memory = str(path) == ":memory:"
    if not memory:
        if path.is_dir():
            raise StoreError(
                f"{path} is a directory: give the path of a database file, e.g. {path / DEFAULT_DB}"
            )
        if not path.exists() and read_only:
            raise StoreError(
                f"no run database at {path}: run a traced backtest first "
                f"(eventstore run --db {path}) or pass the right --db"
            )
        if not path.parent.exists():
            raise StoreError(f"cannot create {path}: directory {path.parent} does not exist")
        if not read_only and not _writable(path.parent):
            # DuckDB writes a write-ahead log beside the file: a read-only directory fails
            # at the first commit, long after the open.
            raise StoreError(
                f"cannot write {path}: directory {path.parent} is read-only (DuckDB keeps a "
                f"{path.name}.wal file beside the database): use a writable directory with --db"
            )
    duck = _connect(path, read_only and not memory, wait)
    url = f"duckdb:///{path}"
    engine = sa.create_engine(
        "duckdb://", creator=lambda: ConnectionWrapper(duck.cursor()), poolclass=NullPool
    )
    store = Store(url, engine, duck, read_only and not memory)
    try:
        _check_schema(store)
        if not store.read_only:
            mark_crashed_runs(store)
            return store
        stale = mark and bool(_dead_runs(store) or _leftover_runs(store))
    except BaseException:
        store.close()
        raise
    if not stale:
        return store
    # Runs of a process that died are recovered from their segments and marked crashed by the
    # next write-mode open; a reader (`eventstore runs` right after a kill) is often that next
    # open, so it does it first.
    store.close()
    try:
        _open_duckdb(path, False, wait).close()
    except StoreError as exc:
        logger.warning("cannot mark crashed runs in %s (%s): showing them as running", path, exc)
    return _open_duckdb(path, True, wait, mark=False)


def _writable(folder: Path) -> bool:
    """Whether a file can be created in ``folder``: tried, since permissions alone miss
    read-only mounts and immutable directories (and say yes to root)."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def _connect(path: Path, read_only: bool, wait: float) -> duckdb.DuckDBPyConnection:
    """Connect, waiting up to ``wait`` seconds for a writer that holds the file to let go."""
    deadline = time.monotonic() + wait
    delay = 0.05
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.Error as exc:
            error = _open_error(path, exc, read_only)
            if not isinstance(error, StoreLockedError) or time.monotonic() + delay > deadline:
                raise error from None
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


def _open_error(path: Path, exc: duckdb.Error, read_only: bool) -> StoreError:
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
    if "permission" in message.lower():
        return StoreError(f"cannot open {path}: permission denied; check the file's permissions")
    return StoreError(
        f"{path} is not a DuckDB database ({message.splitlines()[0]}): pass the path of an "
        "eventstore database, or a new file name to create one"
    )


def _current_revision(store: Store) -> str | None:
    """The store's Alembic revision; None for an empty database."""
    with store.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
        if "alembic_version" in tables:
            rows = conn.execute(sa.text("SELECT version_num FROM alembic_version")).all()
            if len(rows) == 1:
                views = set(sa.inspect(conn).get_view_names())
                _check_tables(store, str(rows[0][0]), tables | views)
                return str(rows[0][0])
        elif not tables:
            return None
    where = store.path or store.url
    raise SchemaVersionError(
        f"{where} is a database but not an eventstore run store (tables: "
        f"{', '.join(sorted(tables)) or 'none'}): use another file or a new one"
    )


_EVENTSTORE_TABLES = {"runs", "events", "lineage_edges", "deliveries"}
"""Tables (0001) or views (0002 on) every revision of a run store has."""


def _check_tables(store: Store, revision: str, tables: set[str]) -> None:
    """An Alembic-versioned database is ours only if it holds our tables: another
    application's is not "newer", and a stamped but empty one is not a run store."""
    from eventstore.store.migrate import is_known_revision

    missing = _EVENTSTORE_TABLES - tables
    if not missing:
        return
    where = store.path or store.url
    others = ", ".join(sorted(tables - {"alembic_version"})) or "none"
    if not is_known_revision(revision) and missing == _EVENTSTORE_TABLES:
        raise SchemaVersionError(
            f"{where} is another application's Alembic database (revision {revision}, tables: "
            f"{others}), not an eventstore run store: use another file or a new one"
        )
    raise SchemaVersionError(
        f"{where} says schema revision {revision} but lacks the eventstore tables "
        f"{', '.join(sorted(missing))}: it is not a complete run store; use another file or "
        "a new one"
    )


def _check_schema(store: Store) -> None:
    where = store.path or store.url
    try:
        revision = _current_revision(store)
    except sa.exc.DBAPIError as exc:
        raise StoreError(f"cannot read {where}: {exc.orig}") from None
    if revision == SCHEMA_REVISION:
        return
    from eventstore.store.migrate import is_known_revision, upgrade

    if revision is not None and not is_known_revision(revision):
        raise SchemaVersionError(
            f"{where} has schema revision {revision}, newer than this eventstore understands "
            f"(revision {SCHEMA_REVISION}): upgrade eventstore (pip install -U eventstore)"
        )
    if store.read_only:
        if revision is None:
            raise SchemaVersionError(
                f"{where} is empty, not an eventstore run store: pass the database a traced "
                "run wrote to"
            )
        raise SchemaVersionError(
            f"{where} has schema revision {revision}, older than {SCHEMA_REVISION}: run "
            f"`eventstore migrate --db {where}` once, then read it"
        )
    if revision is not None:
        logger.warning("upgrading %s from schema %s to %s", where, revision, SCHEMA_REVISION)
    upgrade(store)


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _dead_runs(store: Store) -> list[str]:
    """The runs left ``running`` by a process of this host that is gone."""
    with store.connect() as conn:
        running = conn.execute(
            sa.text("SELECT run_id, pid FROM runs WHERE status = 'running' AND host = :host"),
            {"host": socket.gethostname()},
        ).all()
    return [run_id for run_id, pid in running if pid is None or not process_alive(int(pid))]


def _leftover_runs(store: Store) -> list[str]:
    """Runs that ended but left segment files (a crash or a failure between a load and the
    deletion of its segment): nobody writes them, so the next open loads them again."""
    if store.path is None:
        return []
    with_segments = runs_with_segments(segments_root(store.path))
    if not with_segments:
        return []
    with store.connect() as conn:
        running = {
            run_id
            for (run_id,) in conn.execute(
                sa.text("SELECT run_id FROM runs WHERE status = 'running'")
            )
        }
    return [run_id for run_id in with_segments if run_id not in running]


def mark_crashed_runs(store: Store) -> int:
    """Load the segments of the runs left ``running`` by a process of this host that is gone,
    then mark them ``crashed`` with the number of events stored."""
    dead = _dead_runs(store)
    leftover = _leftover_runs(store)
    if store.path is not None and (dead or leftover):
        from eventstore.store.bulk_writer import recover_runs

        recovered = recover_runs(store.cursor(), segments_root(store.path), dead + leftover)
        if recovered:
            logger.warning("loaded %d event(s) of ended or crashed runs from segments", recovered)
    with store.connect() as conn:
        for run_id in leftover:
            conn.execute(
                sa.text(
                    "UPDATE runs SET event_count = "
                    "(SELECT count(*) FROM run_events AS e WHERE e.run_no = runs.run_no) "
                    "WHERE run_id = :run_id"
                ),
                {"run_id": run_id},
            )
        for run_id in dead:
            conn.execute(
                sa.text(
                    "UPDATE runs SET status = 'crashed', error = :error, event_count = "
                    "(SELECT count(*) FROM run_events AS e WHERE e.run_no = runs.run_no) "
                    "WHERE run_id = :run_id"
                ),
                {"run_id": run_id, "error": "the tracing process ended without closing the run"},
            )
        conn.commit()
    if dead:
        logger.warning("marked %d run(s) crashed: %s", len(dead), ", ".join(dead))
    return len(dead)
