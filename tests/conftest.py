"""Shared fixtures: a fresh DuckDB run store in a temporary directory."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

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
