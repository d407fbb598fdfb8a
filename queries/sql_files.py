"""Runs the SQL files of ``queries/sql`` and returns Arrow tables.

Files use ``:name`` placeholders (SQLAlchemy's style, portable between DuckDB and PostgreSQL);
values are always bound, never formatted into the text. ``NAME.<dialect>.sql`` beside
``NAME.sql`` overrides it on that dialect (``duckdb``, ``postgresql``), where a portable form
is much slower or does not exist. The store runs the text on its native driver (DuckDB's hands
Arrow over without copies), so helpers never branch on the backend.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from importlib import resources
from typing import Any

import pyarrow as pa

from eventstore.store import Store
from eventstore.store.persistence import named_parameters


@cache
def load_sql(name: str, dialect: str = "duckdb") -> str:
    """The text of ``queries/sql/NAME.sql`` (or its ``NAME.<dialect>.sql`` variant), found
    through this package, whatever name it is imported under."""
    folder = resources.files(__name__.rpartition(".")[0]).joinpath("sql")
    variant = folder.joinpath(f"{name}.{dialect}.sql")
    chosen = variant if variant.is_file() else folder.joinpath(f"{name}.sql")
    return chosen.read_text(encoding="utf-8")


def parameters(text: str) -> tuple[str, ...]:
    """The ``:name`` parameters a query's text uses (comments aside), in order of first use."""
    return named_parameters(text)[1]


def _text(store: Store, name: str, params: dict[str, Any]) -> str:
    text = load_sql(name, store.dialect)
    missing = [n for n in parameters(text) if n not in params]
    if missing:
        raise KeyError(f"{name}.sql needs parameter(s) {', '.join(missing)}")
    return text


def fetch_table(store: Store, name: str, params: dict[str, Any] | None = None) -> pa.Table:
    """Run the SQL file ``name`` on ``store`` with ``params`` bound; return its rows."""
    params = params or {}
    return store.fetch_arrow(_text(store, name, params), params)


def fetch_rows(
    store: Store, name: str, params: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Like ``fetch_table``, as Python dicts: for the small lookups helpers make first."""
    rows: list[dict[str, Any]] = fetch_table(store, name, params).to_pylist()
    return rows


def fetch_records(
    store: Store, name: str, params: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Like ``fetch_rows``, for the lookups and short chains a helper answers in milliseconds
    (on DuckDB, through the DB-API cursor: an Arrow relation plans its query twice)."""
    params = params or {}
    return store.fetch_records(_text(store, name, params), params)


def stream_rows(
    store: Store, name: str, params: dict[str, Any] | None = None, *, batch_size: int = 50_000
) -> Iterator[list[dict[str, Any]]]:
    """Run the SQL file ``name`` and yield its rows ``batch_size`` at a time, so a caller
    writing millions of rows out keeps only one batch in memory."""
    params = params or {}
    yield from store.stream_records(_text(store, name, params), params, batch_size=batch_size)
