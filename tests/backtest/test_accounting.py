"""Accounting holds at every portfolio update: cash + positions at their marks = equity, and
each fill moves cash by exactly price * quantity + commission. Checked from the stored events
alone, on a synthetic and on a CSV-fed run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from eventstore import Store
from eventstore.backtest import BacktestConfig, BacktestContainer, BacktestResult


def _updates_with_fills(store: Store, run_id: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    rows = (
        store.cursor()
        .execute(
            """
            SELECT u.payload, f.payload FROM events u
            JOIN events f ON f.run_id = u.run_id AND f.event_id = u.causation_id
            WHERE u.run_id = ? AND u.event_type = 'PORTFOLIO_UPDATE' AND f.event_type = 'FILL'
            ORDER BY u.seq
            """,
            [run_id],
        )
        .fetchall()
    )
    return [(orjson.loads(update), orjson.loads(fill)) for update, fill in rows]


def _check_accounting(store: Store, result: BacktestResult) -> None:
    assert result.correlation_id is not None
    pairs = _updates_with_fills(store, result.correlation_id)
    assert len(pairs) == result.fills > 5
    cash = result.initial_cash
    positions: dict[str, int] = {}
    for update, fill in pairs:
        marked = sum(q * update["prices"][s] for s, q in update["positions"].items())
        assert update["cash"] + marked == pytest.approx(update["equity"], rel=1e-12)
        assert update["market_value"] == pytest.approx(marked, rel=1e-12)
        signed = fill["quantity"] if fill["side"] == "BUY" else -fill["quantity"]
        cash -= signed * fill["price"] + fill["commission"]
        assert update["cash"] == pytest.approx(cash, rel=1e-9)
        positions[fill["symbol"]] = positions.get(fill["symbol"], 0) + signed
        assert update["positions"] == {s: q for s, q in positions.items() if q}
    assert result.cash == pytest.approx(cash, rel=1e-9)
    assert result.positions == {s: q for s, q in sorted(positions.items()) if q}


def test_accounting_on_synthetic_data(store: Store, small_config: BacktestConfig) -> None:
    _check_accounting(store, BacktestContainer(small_config, store).run())


def test_accounting_on_csv_data(
    store: Store, config_data: dict[str, Any], csv_files: dict[str, Path]
) -> None:
    config_data["data"] = {"source": "csv", "files": {s: str(p) for s, p in csv_files.items()}}
    config_data["strategies"][2]["symbols"] = ["XXX"]
    del config_data["bars"]  # every row of each file
    config = BacktestConfig.model_validate(config_data)
    result = BacktestContainer(config, store).run()
    assert result.bars == 2 * 200
    _check_accounting(store, result)


def test_csv_bars_limit_reads_the_first_rows_of_each_file(
    config_data: dict[str, Any], csv_files: dict[str, Path]
) -> None:
    config_data["data"] = {"source": "csv", "files": {s: str(p) for s, p in csv_files.items()}}
    config_data["strategies"] = [{"type": "breakout", "window": 5}]
    config_data["bars"] = 50
    result = BacktestContainer(BacktestConfig.model_validate(config_data), trace=False).run()
    assert result.bars == 2 * 50
