"""Alembic environment for the eventstore run database (DuckDB or PostgreSQL).

``open_store`` passes its own connection in ``config.attributes["connection"]``; the ``alembic``
command line builds one from ``-x db=...``, ``EVENTSTORE_DB`` or ``sqlalchemy.url``.
"""

from __future__ import annotations

import os

from alembic import context
from alembic.ddl.impl import DefaultImpl
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection

from eventstore.store.schema import metadata


class DuckDBImpl(DefaultImpl):
    """Alembic ships no DuckDB implementation; DuckDB speaks PostgreSQL's DDL closely enough."""

    __dialect__ = "duckdb"


def _url() -> str:
    config = context.config
    target = context.get_x_argument(as_dictionary=True).get("db") or os.environ.get("EVENTSTORE_DB")
    if not target:
        return str(config.get_main_option("sqlalchemy.url"))
    return target if "://" in target else f"duckdb:///{target}"


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(_url())
    with engine.connect() as conn:
        _run(conn)
        conn.commit()
    engine.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
