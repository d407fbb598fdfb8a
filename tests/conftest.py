"""Shared fixtures: a fresh DuckDB run store in a temporary directory, a fresh PostgreSQL
database on the server ``EVENTSTORE_TEST_PG_URL`` names, and both for contract tests."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import pytest
import sqlalchemy as sa

from eventstore import Store, open_store


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "runs.duckdb"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    """A fresh store in a real DuckDB file, closed after the test."""
    with open_store(db_path) as opened:
        yield opened


@pytest.fixture(params=["compiled", "pure"])
def recorder_kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a tracer-level test once per recorder implementation. The compiled one must be
    there in CI (``pip install -e .`` builds it); elsewhere a missing build skips its half."""
    from eventstore.tracing import implementation

    if request.param == "pure":
        monkeypatch.setattr(implementation, "_COMPILED", None)
    elif implementation._COMPILED is None:
        if os.environ.get("CI") and not os.environ.get("EVENTSTORE_PURE_PYTHON"):
            pytest.fail("the compiled recorder did not build: see `pip install -e .` output")
        pytest.skip("the compiled recorder is not built (or EVENTSTORE_PURE_PYTHON is set)")
    return str(request.param)


# --- PostgreSQL -----------------------------------------------------------------------------

PG_URL_VARIABLE = "EVENTSTORE_TEST_PG_URL"
START_A_SERVER = (
    f"start one and point {PG_URL_VARIABLE} at it, e.g. "
    f"{PG_URL_VARIABLE}=postgresql+psycopg://postgres@localhost:55432/postgres "
    "(`.ci/run` installs PostgreSQL, runs initdb and pg_ctl start, and sets it)"
)


def _no_server(reason: str) -> NoReturn:
    """In CI a missing server is a failure (the suite must run on both backends there); on a
    developer's machine the PostgreSQL half is skipped, saying how to run it."""
    message = f"PostgreSQL tests need a server: {reason}; {START_A_SERVER}"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def pg_server() -> str:
    """The URL of the test server's maintenance database (tests get databases of their own)."""
    url = os.environ.get(PG_URL_VARIABLE)
    if not url:
        _no_server(f"{PG_URL_VARIABLE} is not set")
    try:
        import psycopg
    except ImportError:
        _no_server("psycopg is not installed (pip install -e '.[dev]')")
    try:
        psycopg.connect(_conninfo(url), connect_timeout=5).close()
    except psycopg.Error as exc:
        shown = sa.make_url(url).render_as_string()  # the password hidden
        _no_server(f"cannot connect to {shown} ({str(exc).strip().splitlines()[0]})")
    return url


def _conninfo(url: str) -> str:
    return sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def fresh_pg_database(server: str) -> Iterator[str]:
    """A new, empty database on the test server, dropped after: its URL."""
    import psycopg

    name = f"eventstore_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_conninfo(server), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield sa.make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(_conninfo(server), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """The URL of a fresh PostgreSQL database of this test's own."""
    with fresh_pg_database(pg_server) as url:
        yield url


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[Store]:
    """A fresh store in a real PostgreSQL database, closed after the test."""
    with open_store(pg_url) as opened:
        yield opened


BACKENDS = ["duckdb", "postgresql"]


@pytest.fixture(params=BACKENDS)
def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Where a contract test's store lives, once per backend: a DuckDB file, then a fresh
    PostgreSQL database."""
    if request.param == "duckdb":
        yield str(tmp_path / "runs.duckdb")
        return
    with fresh_pg_database(request.getfixturevalue("pg_server")) as url:
        yield url


@pytest.fixture
def backend_store(backend_url: str) -> Iterator[Store]:
    """A fresh store on each backend, closed after the test."""
    with open_store(backend_url) as opened:
        yield opened
