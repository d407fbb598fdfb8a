"""Stores filled by the real tracer, shared by a module's tests (building them is the slow
part), and the truth of what was published."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from eventstore import Store, open_store
from tests.queries.flows import CLOSES, Truth, trace_trading


@dataclass
class TradingStore:
    """A store with two runs of the trading flow that differ at one bar's close, and a run
    with a failing handler."""

    path: Path
    store: Store
    a: Truth
    b: Truth
    failing: Truth
    changed_bar: int


@pytest.fixture(scope="module")
def trading(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TradingStore]:
    path = tmp_path_factory.mktemp("trading") / "runs.duckdb"
    changed_bar = 5
    closes_b = list(CLOSES)
    closes_b[changed_bar] = 101.0  # still below bar 4's close: same signals, another price
    with open_store(path) as store:
        a = trace_trading(store, CLOSES, name="a")
        b = trace_trading(store, closes_b, name="b", batch_size=3)
        failing = trace_trading(store, CLOSES[:4], name="failing", failing_risk=True)
        yield TradingStore(path, store, a, b, failing, changed_bar)
