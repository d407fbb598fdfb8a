"""The shared backend: a run store on a PostgreSQL server, for teams and parallel sweeps.

``open_store("postgresql+psycopg://user@host:5432/db")`` gets the same tables, created by the
same Alembic migrations, as a DuckDB file. Queries run on a psycopg 3 connection of their own,
read-only, whose loaders hand JSON over as its text and ``numeric`` as floats, so a query's
Arrow table holds the values DuckDB's would. Runs are written by ``postgres_writer``
(``COPY``, one transaction per batch).

Liveness: many processes on many machines write one server, so a process id says nothing.
The session that writes a run holds the advisory lock ``(RUN_LOCK, run_no)`` from the moment
the run's row is visible until it ends; the server drops it with the session, however the
process died. So a ``running`` run whose lock can be taken is a crashed one.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import sqlalchemy as sa

from eventstore.errors import StoreError, first_line
from eventstore.store.persistence import Params, Record, Store, bound, check_schema
from eventstore.store.postgres_writer import RUN_LOCK, PostgresBatchWriter, store_exact_bounds
from eventstore.tracing.writer import BatchWriter

if TYPE_CHECKING:
    import psycopg

logger = logging.getLogger(__name__)


_ARROW_TYPES: dict[int, pa.DataType] = {
    16: pa.bool_(),
    20: pa.int64(),
    21: pa.int16(),
    23: pa.int32(),
    25: pa.string(),
    114: pa.string(),  # json, as its text
    700: pa.float32(),
    701: pa.float64(),
    1043: pa.string(),
    1082: pa.date32(),
    1114: pa.timestamp("us"),
    1700: pa.float64(),  # numeric, e.g. bigint / 1e6: DuckDB computes it as a double
    3802: pa.string(),  # jsonb, as its text
}
"""Arrow types of the PostgreSQL types (by OID) our queries return; others are inferred."""

INSTALL_HINT = "pip install 'eventstore[postgres]'"


class PostgresStore(Store):
    """A run store on a PostgreSQL server."""

    dialect = "postgresql"

    def __init__(self, url: sa.URL, read_only: bool) -> None:
        # ``url`` is what messages and announcements show: never the password.
        super().__init__(url.render_as_string(hide_password=True), sa.create_engine(url), read_only)
        self.conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._query: psycopg.Connection[Any] | None = None
        self._lock = threading.Lock()

    @property
    def driver_errors(self) -> tuple[type[BaseException], ...]:
        import psycopg

        return (psycopg.Error,)

    def _connect_queries(self) -> psycopg.Connection[Any]:
        if self._query is None or self._query.closed:
            self._query = connect(self.conninfo, self.where)
            self._query.read_only = True
            configure_loaders(self._query)
        return self._query

    def fetch_arrow(self, sql: str, params: Params | None = None) -> pa.Table:
        text, values = _psycopg_form(sql, params)
        with self._lock:
            conn = self._connect_queries()
            with self._unless_lost(conn):
                try:
                    with conn.cursor() as cur:
                        cur.execute(text, values)
                        if cur.description is None:
                            return pa.table({})
                        columns = [(c.name, c.type_code) for c in cur.description]
                        rows = cur.fetchall()
                finally:
                    if not conn.broken:
                        conn.rollback()
        return arrow_table(columns, rows)

    @contextlib.contextmanager
    def _unless_lost(self, conn: psycopg.Connection[Any]) -> Iterator[None]:
        """Our error when the server went away under a query (a restart, a failover, an
        administrator ending the session); the query's own errors pass as they are. The
        next query connects again."""
        import psycopg

        try:
            yield
        except psycopg.OperationalError as exc:
            if not conn.broken:
                raise
            raise StoreError(
                f"lost the connection to {self.where} ({first_line(exc)}): check that the "
                "server runs, then ask again"
            ) from None

    def stream_records(
        self, sql: str, params: Params | None = None, *, batch_size: int = 50_000
    ) -> Iterator[list[Record]]:
        """Through a server-side cursor on a connection of its own, so other queries can run
        while a caller works through the batches."""
        with self._server_cursor(sql, params) as cur:
            columns = [c.name for c in cur.description or ()]
            while rows := cur.fetchmany(batch_size):
                yield [dict(zip(columns, row, strict=True)) for row in rows]

    def stream_arrow(
        self, sql: str, params: Params | None = None, *, batch_size: int = 50_000
    ) -> Iterator[pa.RecordBatch]:
        """Through a server-side cursor, as ``stream_records``; each batch typed from the
        columns' PostgreSQL types as ``fetch_arrow`` types its table."""
        with self._server_cursor(sql, params) as cur:
            columns = [(c.name, c.type_code) for c in cur.description or ()]
            yield _one_batch(arrow_table(columns, cur.fetchmany(batch_size)))
            while rows := cur.fetchmany(batch_size):
                yield _one_batch(arrow_table(columns, rows))

    @contextlib.contextmanager
    def _server_cursor(
        self, sql: str, params: Params | None
    ) -> Iterator[psycopg.ServerCursor[Any]]:
        """A server-side cursor that has run ``sql``, on a read-only connection of its own,
        closed when the block ends."""
        text, values = _psycopg_form(sql, params)
        conn = connect(self.conninfo, self.where)
        try:
            conn.read_only = True
            configure_loaders(conn)
            with self._unless_lost(conn), conn.cursor(name="eventstore_stream") as cur:
                cur.execute(text, values)
                yield cur
        finally:
            conn.close()

    def batch_writer(self) -> BatchWriter:
        self._refuse_read_only()
        return PostgresBatchWriter(connect(self.conninfo, self.where))

    def mark_crashed_runs(self) -> int:
        """Mark ``crashed`` every ``running`` run whose writer's lock can be taken (its session
        is gone), with the number of events stored. Each lock is taken and given back in one
        statement, so two processes opening at once never both mark a run."""
        conn = connect(self.conninfo, self.where)
        try:
            conn.read_only = False
            with conn.cursor() as cur:
                cur.execute(_MARK_CRASHED, {"lock": RUN_LOCK, "error": _CRASH_ERROR})
                marked = cur.fetchall()
                for _, run_no in marked:  # the recorder's word on its bounds died with it
                    exact = store_exact_bounds(cur, int(run_no))
                    cur.execute(_SET_EXACT, {"exact": exact, "run_no": run_no})
            conn.commit()
            crashed = [str(run_id) for run_id, _ in marked]
        finally:
            conn.close()
        if crashed:
            logger.warning("marked %d run(s) crashed: %s", len(crashed), ", ".join(crashed))
        return len(crashed)

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self._query is not None:
                self._query.close()
                self._query = None


_CRASH_ERROR = "the tracing process ended without closing the run"
# pg_try_advisory_xact_lock holds the lock to the end of this transaction: the run is marked
# while its writer provably is not there, and a writer that begins later gets a new run_no.
_MARK_CRASHED = """
UPDATE runs
SET status = 'crashed', error = %(error)s,
    event_count = (SELECT count(*) FROM run_events AS e WHERE e.run_no = runs.run_no)
WHERE status = 'running' AND pg_try_advisory_xact_lock(%(lock)s, run_no)
RETURNING run_id, run_no
"""
_SET_EXACT = "UPDATE runs SET lineage_exact = %(exact)s WHERE run_no = %(run_no)s"


def _psycopg_form(sql: str, params: Params | None) -> tuple[str, dict[str, Any] | None]:
    """psycopg spells named parameters ``%(name)s``, and then reads ``%`` as a marker."""
    if params is None:
        return sql, None
    return bound(sql.replace("%", "%%"), params, r"%(\1)s")


def arrow_table(columns: list[tuple[str, int]], rows: list[tuple[Any, ...]]) -> pa.Table:
    """Rows of a psycopg cursor as an Arrow table typed from the columns' PostgreSQL types."""
    arrays = []
    for index, (_, oid) in enumerate(columns):
        values = [row[index] for row in rows]
        kind = _ARROW_TYPES.get(oid)
        if kind is None and not values:
            kind = pa.null()
        arrays.append(pa.array(values, kind))
    return pa.Table.from_arrays(arrays, names=[name for name, _ in columns])


def _one_batch(table: pa.Table) -> pa.RecordBatch:
    batches = table.combine_chunks().to_batches()
    return batches[0] if batches else pa.RecordBatch.from_pylist([], schema=table.schema)


def configure_loaders(conn: psycopg.Connection[Any]) -> None:
    """JSON as its text (DuckDB hands JSON over as text too: payloads round-trip byte for
    byte) and ``numeric`` as float (DuckDB's type for the same expressions)."""
    from psycopg.adapt import Loader
    from psycopg.types.string import TextLoader

    class NumericAsFloat(Loader):
        def load(self, data: Any) -> float:
            return float(bytes(data))

    for name in ("json", "jsonb"):
        conn.adapters.register_loader(name, TextLoader)
    conn.adapters.register_loader("numeric", NumericAsFloat)


def _require_driver(where: str) -> None:
    """Our error, saying how to install it, when psycopg (an optional extra) is missing."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise StoreError(
            f"{where} is a PostgreSQL store and psycopg is not installed: {INSTALL_HINT}"
        ) from None


def connect(conninfo: str, where: str) -> psycopg.Connection[Any]:
    """A psycopg connection, or a ``StoreError`` saying why the server can't be reached."""
    _require_driver(where)
    import psycopg

    try:
        return psycopg.connect(conninfo)
    except psycopg.Error as exc:
        # libpq's "connection failed: connection to server at … failed: …" says it twice
        reason = " ".join(first_line(exc).removeprefix("connection failed: ").split())
        raise StoreError(
            f"cannot connect to {where} ({reason}): check that the server runs and the URL's "
            "host, port, user, password and database are right"
        ) from None


def open_postgres(url: sa.URL, read_only: bool) -> PostgresStore:
    """Open (creating and upgrading unless ``read_only``) the run store in database ``url``;
    mark the runs of writers that are gone ``crashed``."""
    url = url.set(drivername="postgresql+psycopg")
    _require_driver(url.render_as_string(hide_password=True))  # SQLAlchemy's engine needs it
    store = PostgresStore(url, read_only)
    try:
        connect(store.conninfo, store.where).close()  # our message if the server is not there
        refusals: tuple[type[BaseException], ...] = (sa.exc.DBAPIError, *store.driver_errors)
        try:
            check_schema(store)
            if not read_only or _has_running_runs(store):
                # A reader (`eventstore runs` right after a kill) is often the first to look:
                # it marks dead runs too, unless the server refuses it the write.
                try:
                    store.mark_crashed_runs()
                except Exception as exc:
                    if not read_only:
                        raise
                    logger.warning("cannot mark crashed runs in %s (%s)", store.where, exc)
        except refusals as exc:
            raise _refused(store, url, exc) from None
    except BaseException:
        store.close()
        raise
    return store


_INSUFFICIENT_PRIVILEGE = "42501"
"""PostgreSQL's SQLSTATE for a privilege the user lacks."""
_READ_ONLY_TRANSACTION = "25006"
"""PostgreSQL's SQLSTATE for a write on a standby, or where transactions are read-only."""


def _refused(store: PostgresStore, url: sa.URL, exc: BaseException) -> StoreError:
    """Our error for a server that refused what opening the store does (create or upgrade
    the tables, mark crashed runs): most often a user who may not write there."""
    cause = getattr(exc, "orig", None) or exc
    reason = first_line(cause)
    sqlstate = getattr(cause, "sqlstate", None)
    if sqlstate == _READ_ONLY_TRANSACTION:
        return StoreError(
            f"cannot open {store.where} for writing ({reason}): the server takes no writes "
            "there (a standby, or default_transaction_read_only is on): trace into the "
            "primary server, or only read this one (eventstore runs --db URL)"
        )
    if sqlstate != _INSUFFICIENT_PRIVILEGE:
        return StoreError(f"cannot open {store.where} ({reason}): check the server's log")
    user = url.username or "this user"
    if store.read_only:
        return StoreError(
            f"cannot read {store.where} ({reason}): have the database's owner run "
            f"`GRANT SELECT ON ALL TABLES IN SCHEMA public TO {user}`"
        )
    return StoreError(
        f"cannot open {store.where} for writing ({reason}): user {user} may not create or "
        f"write eventstore's tables there. Use a database of its own (createdb), or have the "
        f"database's owner run `GRANT CREATE ON SCHEMA public TO {user}` (a new store) or "
        f"`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {user}` "
        "(an existing one); reading needs only SELECT"
    )


def _has_running_runs(store: PostgresStore) -> bool:
    rows = store.fetch_records("SELECT 1 AS one FROM runs WHERE status = 'running' LIMIT 1", {})
    return bool(rows)


def is_postgres(url: sa.URL) -> bool:
    return url.get_backend_name() in ("postgresql", "postgres")
