"""Ad-hoc SQL over a run store, read-only.

The store is opened read-only, and the query is parsed first: only a single SELECT (or EXPLAIN
of one) runs. A read-only DuckDB connection would still let ``COPY … TO``, ``ATTACH``,
``INSTALL`` or ``SET`` through, and a second statement after a ``;`` would hide a write, so the
statement type is checked rather than trusting the connection alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import duckdb
import pyarrow as pa
import sqlalchemy as sa

from eventstore.errors import QueryError
from eventstore.store import Store

from .store_access import StoreLike, opened

_ALLOWED = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}
_PIVOT = re.compile(r"\bPIVOT\b", re.IGNORECASE)


def run_sql(store: StoreLike, query: str) -> pa.Table:
    """Run one read-only SQL query (SELECT, WITH … SELECT, DESCRIBE, SHOW, EXPLAIN) and
    return its rows; anything that could write is a ``QueryError``."""
    with opened(store) as db:
        statement = _check(db, query)
        failures: tuple[type[BaseException], ...] = (*db.driver_errors, sa.exc.DBAPIError)
        try:
            # A PostgreSQL store reads in read-only transactions: the server refuses writes too.
            return db.fetch_arrow(statement)
        except failures as exc:
            raise QueryError(f"the query failed: {_first_line(exc)}: fix the query") from None


def stream_sql(
    store: StoreLike, query: str, *, batch_rows: int = 50_000
) -> Iterator[pa.RecordBatch]:
    """``run_sql``'s rows as ``pyarrow.RecordBatch``es of at most ``batch_rows`` rows, read
    as they are consumed, so a query over every event of a large store needs the memory of
    one batch. The first batch always comes (empty when there are no rows: it names the
    columns); the store stays open until the last one is taken or the iterator is closed."""
    with opened(store) as db:
        statement = _check(db, query)
        failures: tuple[type[BaseException], ...] = (*db.driver_errors, sa.exc.DBAPIError)
        try:
            if statement.lstrip()[:7].upper() == "EXPLAIN":  # a plan is short, and a
                plan = db.fetch_arrow(statement)  # PostgreSQL cursor can't be declared on one
                yield from plan.to_batches() or [pa.RecordBatch.from_pylist([], plan.schema)]
            else:
                yield from db.stream_arrow(statement, batch_size=batch_rows)
        except failures as exc:
            raise QueryError(f"the query failed: {_first_line(exc)}: fix the query") from None


def _check(db: Store, query: str) -> str:
    """The one statement of ``query`` if it only reads, else a ``QueryError`` saying why."""
    if not isinstance(query, str):
        raise QueryError(
            f'the query must be SQL text, got {type(query).__name__}: e.g. "SELECT * FROM runs"'
        )
    if not query.strip():
        raise QueryError('empty query: pass one SELECT, e.g. "SELECT * FROM runs"')
    # DuckDB's parser is PostgreSQL's, so it also vets queries meant for a PostgreSQL store.
    parser = db.cursor() if db.dialect == "duckdb" else duckdb.connect(":memory:")
    try:
        statements = parser.extract_statements(query)
    except duckdb.Error as exc:
        if "expression depth" in str(exc):
            # DuckDB's own hint (SET max_expression_depth) is a statement `sql` refuses.
            raise QueryError(
                "the query nests expressions too deeply (more than 1000 levels, e.g. a long "
                "chain of OR or +): simplify it, e.g. `x IN (1, 2, 3)` instead of ORs"
            ) from None
        raise QueryError(f"malformed SQL: {_first_line(exc)}: fix the query") from None
    finally:
        parser.close()
    if len(statements) != 1:
        raise QueryError(
            f"the query holds {len(statements)} statements: pass exactly one SELECT "
            "(ad-hoc SQL is read-only)"
        )
    statement = statements[0]
    if statement.type == duckdb.StatementType.MULTI and _PIVOT.search(query):
        # DuckDB parses a PIVOT without an IN list as a MULTI statement (it first reads the
        # distinct values); it only reads, and the connection is read-only anyway.
        return query
    if statement.type not in _ALLOWED or _explains_analyze(statement.query):
        kind = statement.type.name.replace("_", " ")
        if kind == "LOAD":  # DuckDB parses INSTALL as a LOAD statement too
            kind = "INSTALL and LOAD"
        raise QueryError(
            f"{kind} statements are not allowed: ad-hoc SQL is read-only, pass a SELECT "
            "(write with the Python API instead)"
        )
    return statement.query


def _explains_analyze(text: str) -> bool:
    """EXPLAIN ANALYZE runs its statement: allow it only around a SELECT."""
    words = text.split()
    if len(words) < 2 or words[0].upper() != "EXPLAIN" or words[1].upper() != "ANALYZE":
        return False
    inner = duckdb.connect(":memory:")
    try:
        parsed = inner.extract_statements(" ".join(words[2:]))
    except duckdb.Error:
        return True
    finally:
        inner.close()
    return len(parsed) != 1 or parsed[0].type != duckdb.StatementType.SELECT


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
