"""Runs the SQL files of ``queries/sql`` and returns Arrow tables.

Files use ``:name`` placeholders (SQLAlchemy's style, portable between DuckDB and PostgreSQL);
values are always bound, never formatted into the text. ``NAME.<dialect>.sql`` beside
``NAME.sql`` overrides it on that dialect, for the few queries where a portable form is much
slower. DuckDB stores are read through the native driver, which hands Arrow over without copies.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from importlib import resources
from typing import Any

import pyarrow as pa
import sqlalchemy as sa

from eventstore.store import Store

_PLACEHOLDER = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
_COMMENT = re.compile(r"--[^\n]*")


@cache
def load_sql(name: str, dialect: str = "duckdb") -> str:
    """The text of ``queries/sql/NAME.sql`` (or its ``NAME.<dialect>.sql`` variant), found
    through this package, whatever name it is imported under."""
    folder = resources.files(__name__.rpartition(".")[0]).joinpath("sql")
    variant = folder.joinpath(f"{name}.{dialect}.sql")
    chosen = variant if variant.is_file() else folder.joinpath(f"{name}.sql")
    return chosen.read_text(encoding="utf-8")


@cache
def _duckdb_form(text: str) -> tuple[str, tuple[str, ...]]:
    """DuckDB spells named parameters ``$name``; also return the names the query uses."""
    body = _COMMENT.sub("", text)
    names = tuple(dict.fromkeys(_PLACEHOLDER.findall(body)))
    return _PLACEHOLDER.sub(r"$\1", body), names


def fetch_table(store: Store, name: str, params: dict[str, Any] | None = None) -> pa.Table:
    """Run the SQL file ``name`` on ``store`` with ``params`` bound; return its rows."""
    params = params or {}
    text = load_sql(name, store.dialect)
    if store.dialect == "duckdb":
        sql, names = _duckdb_form(text)
        missing = [n for n in names if n not in params]
        if missing:
            raise KeyError(f"{name}.sql needs parameter(s) {', '.join(missing)}")
        cursor = store.cursor()
        try:
            relation = cursor.sql(sql, params={n: params[n] for n in names})
            assert relation is not None  # every file holds one read-only query
            return relation.to_arrow_table()
        finally:
            cursor.close()
    with store.connect() as conn:
        result = conn.execute(sa.text(text), params)
        columns = list(result.keys())
        rows = result.all()
    return pa.table({c: [row[i] for row in rows] for i, c in enumerate(columns)})


def fetch_rows(
    store: Store, name: str, params: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Like ``fetch_table``, as Python dicts: for the small lookups helpers make first."""
    rows: list[dict[str, Any]] = fetch_table(store, name, params).to_pylist()
    return rows


def fetch_records(
    store: Store, name: str, params: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Like ``fetch_rows``, for the lookups and short chains a helper answers in milliseconds.

    On DuckDB it reads the rows through the DB-API cursor instead of an Arrow relation: a
    relation binds and plans its query twice (once to learn its columns, once to run it), which
    costs about as much as running a five-row lineage query. Values are those of ``fetch_rows``
    for the types these queries return (integers, text, JSON text, booleans, timestamps)."""
    params = params or {}
    if store.dialect != "duckdb":
        return fetch_rows(store, name, params)
    sql, names = _duckdb_form(load_sql(name, store.dialect))
    missing = [n for n in names if n not in params]
    if missing:
        raise KeyError(f"{name}.sql needs parameter(s) {', '.join(missing)}")
    cursor = store.cursor()
    try:
        cursor.execute(sql, {n: params[n] for n in names})
        columns = [d[0] for d in cursor.description or ()]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    finally:
        cursor.close()


def stream_rows(
    store: Store, name: str, params: dict[str, Any] | None = None, *, batch_size: int = 50_000
) -> Iterator[list[dict[str, Any]]]:
    """Run the SQL file ``name`` and yield its rows ``batch_size`` at a time, so a caller
    writing millions of rows out keeps only one batch in memory."""
    params = params or {}
    text = load_sql(name, store.dialect)
    if store.dialect == "duckdb":
        sql, names = _duckdb_form(text)
        cursor = store.cursor()
        try:
            relation = cursor.sql(sql, params={n: params[n] for n in names})
            assert relation is not None
            for batch in relation.to_arrow_reader(batch_size):
                yield batch.to_pylist()
        finally:
            cursor.close()
        return
    with store.connect() as conn:
        result = conn.execution_options(stream_results=True).execute(sa.text(text), params)
        for partition in result.mappings().partitions(batch_size):
            yield [dict(row) for row in partition]
