"""A run database for the query commands: two runs of the trading flow traced by the real
tracer into a file that is closed before the commands open it read-only."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from eventstore import open_store
from tests.queries.flows import CLOSES, Truth, trace_trading


@dataclass
class TracedFile:
    path: Path
    a: Truth
    b: Truth


@pytest.fixture(scope="module")
def traced_file(tmp_path_factory: pytest.TempPathFactory) -> TracedFile:
    path = tmp_path_factory.mktemp("cli") / "runs.duckdb"
    closes_b = [*CLOSES[:5], 101.0, *CLOSES[6:]]
    with open_store(path) as store:
        a = trace_trading(store, CLOSES, name="a")
        b = trace_trading(store, closes_b, name="b")
    return TracedFile(path, a, b)
