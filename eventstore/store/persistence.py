"""The store layer's contract: what every backend of a run database does, and the checks that
are the same for all of them (the schema revision and whose database it is).

One module per backend implements it (``duckdb_store.py``, ``postgres.py``), as
eventsourcing's ``persistence.py`` has one recorder per database: connect, fetch a query's rows
as Arrow, hand the tracer a batch writer, mark crashed runs, upgrade the schema. Queries never
branch on the backend for *how* to read; where SQL itself differs they pick a dialect variant
of their SQL file.
"""

from __future__ import annotations

import logging
import re
import weakref
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from eventstore.errors import SchemaVersionError, StoreError
from eventstore.store import migrate
from eventstore.store.schema import SCHEMA_REVISION
from eventstore.tracing.writer import BatchWriter, OpenRun, RunInfo

logger = logging.getLogger(__name__)

Params = Mapping[str, Any]
Record = dict[str, Any]

_PLACEHOLDER = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
_COMMENT = re.compile(r"--[^\n]*")


@cache
def named_parameters(sql: str) -> tuple[str, tuple[str, ...]]:
    """``sql`` without comments, and the ``:name`` placeholders it uses, in order of first use.
    Backends rewrite the placeholders into their driver's style."""
    body = _COMMENT.sub("", sql)
    return body, tuple(dict.fromkeys(_PLACEHOLDER.findall(body)))


def bound(sql: str, params: Params, style: str) -> tuple[str, dict[str, Any]]:
    """``sql`` with each ``:name`` replaced by ``style`` (e.g. ``$\\1``) and the values it uses;
    a ``KeyError`` naming any parameter the query needs and ``params`` lacks."""
    body, names = named_parameters(sql)
    missing = [n for n in names if n not in params]
    if missing:
        raise KeyError(f"the query needs parameter(s) {', '.join(missing)}")
    return _PLACEHOLDER.sub(style, body), {n: params[n] for n in names}


class Store(ABC):
    """An open run database: the tracer writes to it, queries read from it.

    ``engine`` is SQLAlchemy's (migrations, ad-hoc Python); the ``fetch_*`` methods run one
    read-only query with ``:name`` placeholders bound to ``params`` (None: the text runs as
    given) on the backend's native driver, the fast way to Arrow on each.
    """

    dialect: str
    """SQLAlchemy's name of the backend (``duckdb``, ``postgresql``): the suffix of the
    dialect variants of query files."""

    def __init__(self, url: str, engine: Engine, read_only: bool) -> None:
        self.url = url
        self.engine = engine
        self.read_only = read_only
        self._open_runs: weakref.WeakSet[OpenRun] = weakref.WeakSet()

    @property
    def path(self) -> Path | None:
        """The database file, for stores kept in one (DuckDB)."""
        return None

    @property
    def frozen(self) -> bool:
        """Whether no one can change the store's rows while it stays open, so what a query
        read stays true until it closes (queries may then keep it). False unless the backend
        knows better."""
        return False

    @property
    def where(self) -> str:
        """How messages name this store: its file, else its URL without the password."""
        if self.path is not None:
            return str(self.path)
        return sa.make_url(self.url).render_as_string(hide_password=True)

    def connect(self) -> Connection:
        """A SQLAlchemy connection (use it as a context manager)."""
        return self.engine.connect()

    @property
    def driver_errors(self) -> tuple[type[BaseException], ...]:
        """The driver's exception types: what a query that fails on the server raises."""
        return ()

    def cursor(self) -> Any:
        """A native DuckDB connection (DuckDB stores only; others use ``fetch_arrow``)."""
        raise StoreError(f"{self.where} is not a DuckDB store: use fetch_arrow() or connect()")

    @abstractmethod
    def fetch_arrow(self, sql: str, params: Params | None = None) -> pa.Table:
        """The rows of one query, as an Arrow table (typed even when empty)."""

    def fetch_records(self, sql: str, params: Params | None = None) -> list[Record]:
        """The rows of one query as dicts: for the small lookups helpers make first."""
        rows: list[Record] = self.fetch_arrow(sql, params).to_pylist()
        return rows

    @abstractmethod
    def stream_records(
        self, sql: str, params: Params | None = None, *, batch_size: int = 50_000
    ) -> Iterator[list[Record]]:
        """The rows of one query, ``batch_size`` at a time, holding one batch in memory."""

    @abstractmethod
    def stream_arrow(
        self, sql: str, params: Params | None = None, *, batch_size: int = 50_000
    ) -> Iterator[pa.RecordBatch]:
        """The rows of one query as Arrow record batches of at most ``batch_size`` rows,
        holding one in memory at a time. The first batch always comes (empty when there are
        no rows), so a caller learns the columns; later ones are never empty."""

    @abstractmethod
    def batch_writer(self) -> BatchWriter:
        """A writer for one new run (what ``EventTracer(store=...)`` asks for)."""

    @abstractmethod
    def mark_crashed_runs(self) -> int:
        """Mark ``crashed`` the runs left ``running`` by a writer that is gone (storing what
        it left behind first); the number marked. Each backend knows who is alive."""

    def upgrade_schema(self) -> None:
        """Migrate the schema to this library's revision (Alembic, in one transaction)."""
        migrate.upgrade(self)

    def track_open_run(self, run: OpenRun) -> None:
        """Have ``close`` end ``run`` first if it is still open then (held weakly): closing a
        store ends the runs traced into it, as closing a file flushes what was written to it,
        instead of leaving them to fail on a closed connection and be marked ``crashed``."""
        self._open_runs.add(run)

    def close(self) -> None:
        """End the runs still traced into this store, then close it; the first error ending
        a run is raised once the store is closed."""
        errors = []
        for run in list(self._open_runs):
            try:
                run.end_before_store_closes()
            except Exception as exc:
                errors.append(exc)
        self._open_runs.clear()
        self.engine.dispose()
        if errors:
            raise errors[0]

    def _refuse_read_only(self) -> None:
        if self.read_only:
            raise StoreError(
                f"{self.where} was opened read-only: open it with open_store(...) to trace into it"
            )

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
        return f"{type(self).__name__}({self.where!r}, {mode})"


EVENTSTORE_TABLES = {"runs", "events", "lineage_edges", "deliveries"}
"""Tables (0001) or views (0002 on) every revision of a run store has."""


def check_schema(store: Store) -> None:
    """Upgrade ``store`` to this library's schema, or raise why it can't be used: another
    application's database, a newer schema, or (read-only) an empty or older one."""
    where = store.where
    try:
        revision = _current_revision(store)
    except sa.exc.DBAPIError as exc:
        raise StoreError(f"cannot read {where}: {exc.orig}") from None
    if revision == SCHEMA_REVISION:
        return
    if revision is not None and not migrate.is_known_revision(revision):
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
    store.upgrade_schema()


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
    raise SchemaVersionError(
        f"{store.where} is a database but not an eventstore run store (tables: "
        f"{', '.join(sorted(tables)) or 'none'}): use another file or a new one"
    )


def _check_tables(store: Store, revision: str, tables: set[str]) -> None:
    """An Alembic-versioned database is ours only if it holds our tables: another
    application's is not "newer", and a stamped but empty one is not a run store."""
    missing = EVENTSTORE_TABLES - tables
    if not missing:
        return
    others = ", ".join(sorted(tables - {"alembic_version"})) or "none"
    if not migrate.is_known_revision(revision) and missing == EVENTSTORE_TABLES:
        raise SchemaVersionError(
            f"{store.where} is another application's Alembic database (revision {revision}, "
            f"tables: {others}), not an eventstore run store: use another file or a new one"
        )
    raise SchemaVersionError(
        f"{store.where} says schema revision {revision} but lacks the eventstore tables "
        f"{', '.join(sorted(missing))}: use another file or a new one"
    )


def run_row(run: RunInfo) -> dict[str, Any]:
    """The ``runs`` row a run starts with, as bound parameters (JSON columns as text): the
    same for every backend's writer."""
    return {
        "run_id": run.run_id,
        "tag": run.tag,
        "name": run.name,
        "started_at": run.started_at,
        "config": orjson.dumps(run.config, option=orjson.OPT_NON_STR_KEYS).decode(),
        "sampling": json_text(run.sampling),
        "library_version": run.library_version,
        "host": run.host,
        "pid": run.pid,
    }


def json_text(value: dict[str, Any] | None) -> str | None:
    """A JSON column's text (None stays NULL)."""
    return None if value is None else orjson.dumps(value).decode()
