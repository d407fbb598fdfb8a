"""The queries on runs of the demo backtester: real strategies, risk, execution, portfolio."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from eventstore import Store, open_store, queries
from tests.queries.test_latency import assert_matches, expected, raw_deliveries

backtest = pytest.importorskip("eventstore.backtest")

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "config" / "multi_strategy_test.yaml"
BARS = 150


@dataclass
class BacktestRuns:
    store: Store
    seed_42: str
    seed_43: str
    tweaked: str
    first_differing_bar: int  # between the seeds' market data, found from the data itself
    tweaked_bar: int


def bar_seqs(store: Store, run_id: str) -> list[int]:
    rows = store.cursor().execute(
        "SELECT seq FROM events WHERE run_id = ? AND event_type = 'BAR' ORDER BY seq", [run_id]
    )
    return [seq for (seq,) in rows.fetchall()]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BacktestRuns]:
    config_42 = backtest.load_config(CONFIG, bars=BARS, seed=42)
    config_43 = backtest.load_config(CONFIG, bars=BARS, seed=43)
    data_42 = backtest.load_market_data(config_42).collect()
    data_43 = backtest.load_market_data(config_43).collect()
    first = next(
        i for i, (a, b) in enumerate(zip(data_42.rows, data_43.rows, strict=True)) if a != b
    )
    # Same data with one close nudged in the middle (kept inside the bar's high/low).
    middle = len(data_42.rows) // 2
    when, symbol, open_, high, low, close, volume = data_42.rows[middle]
    nudged = close - 0.01 if close - 0.01 >= low else close + 0.01
    rows = list(data_42.rows)
    rows[middle] = (when, symbol, open_, max(high, nudged), low, nudged, volume)
    tweaked_data = backtest.MarketData(data_42.symbols, rows)
    path = tmp_path_factory.mktemp("backtest") / "runs.duckdb"
    with open_store(path) as store:
        ids = [
            backtest.BacktestContainer(config, store, market_data=data).run().correlation_id
            for config, data in (
                (config_42, data_42),
                (config_43, data_43),
                (config_42, tweaked_data),
            )
        ]
        yield BacktestRuns(store, ids[0], ids[1], ids[2], first, middle)


def test_every_fills_why_ends_at_a_bar(runs: BacktestRuns) -> None:
    rows = runs.store.cursor().execute(
        "SELECT event_id FROM events WHERE run_id = ? AND event_type = 'FILL' ORDER BY seq",
        [runs.seed_42],
    )
    fills = [event_id for (event_id,) in rows.fetchall()]
    assert fills
    for fill in fills:
        chain = queries.why(runs.store, fill)
        assert chain[0].event_id == fill
        assert chain[-1].event_type == "BAR", fill
        assert chain[-1].causation_id is None
        assert {"ORDER", "SIGNAL"} <= {e.event_type for e in chain}


def test_signal_to_fill_chains_cover_every_fill(runs: BacktestRuns) -> None:
    chains = queries.signal_to_fill_chains(runs.store, runs.seed_42)
    (summary,) = queries.run_summary(runs.store, runs.seed_42).to_pylist()
    assert set(chains["fill_id"].to_pylist()) and chains.num_rows >= summary["fills"] > 0
    assert min(chains["chain_length"].to_pylist()) >= 3


@pytest.mark.parametrize("by", ["type", "handler", "source"])
def test_percentiles_equal_numpys(runs: BacktestRuns, by: str) -> None:
    key = {"type": "event_type", "handler": "handler", "source": "source"}[by]
    table = queries.latency_percentiles(runs.store, [runs.seed_42], by=by)  # type: ignore[arg-type]
    assert_matches(table, expected(raw_deliveries(runs.store, [runs.seed_42]), key), key)


def test_a_run_compared_with_itself_has_no_differences(runs: BacktestRuns) -> None:
    diff = queries.compare_runs(runs.store, runs.seed_42, runs.seed_42)
    assert diff.identical and diff.unmatched.num_rows == 0
    assert set(diff.counts["difference"].to_pylist()) == {0}


def test_two_seeds_diverge_at_the_first_bar_that_differs(runs: BacktestRuns) -> None:
    expected_seq = bar_seqs(runs.store, runs.seed_42)[runs.first_differing_bar]
    (row,) = queries.first_divergence(runs.store, runs.seed_42, runs.seed_43).to_pylist()
    assert row["seq"] == expected_seq
    assert row["a_event_type"] == row["b_event_type"] == "BAR"


def test_a_nudged_bar_is_where_the_runs_diverge(runs: BacktestRuns) -> None:
    seqs = bar_seqs(runs.store, runs.seed_42)
    assert (
        seqs[: runs.tweaked_bar + 1] == bar_seqs(runs.store, runs.tweaked)[: runs.tweaked_bar + 1]
    )
    (row,) = queries.first_divergence(runs.store, runs.seed_42, runs.tweaked).to_pylist()
    assert row["seq"] == seqs[runs.tweaked_bar] > 1
    assert row["a_event_type"] == row["b_event_type"] == "BAR"
    diff = queries.compare_runs(runs.store, runs.seed_42, runs.tweaked)
    assert not diff.identical
