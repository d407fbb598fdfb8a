"""Fixtures for backtest tests: small configs (dicts and YAML files), CSV market data, and
helpers that read a run back from the database with plain SQL."""

from __future__ import annotations

import copy
import csv
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from eventstore import Store
from eventstore.backtest import BacktestConfig, SymbolBars, synthetic_bars
from eventstore.backtest.config import SyntheticData

REPO = Path(__file__).resolve().parents[2]
MULTI_STRATEGY = REPO / "config" / "multi_strategy_test.yaml"

BASE_CONFIG: dict[str, Any] = {
    "name": "small_test",
    "seed": 3,
    "bars": 300,
    "initial_cash": 100_000,
    "data": {"source": "synthetic", "symbols": ["AAA", "BBB", "CCC"], "annual_volatility": 0.6},
    "strategies": [
        {"type": "moving_average_crossover", "fast": 3, "slow": 8},
        {"type": "mean_reversion", "window": 10, "entry_z": 1.5, "exit_z": 0.3},
        {"type": "breakout", "window": 10, "symbols": ["AAA", "BBB"]},
    ],
    # Tight limits, so some signals are rejected even in a short run.
    "risk": {"position_size": 0.15, "max_position": 0.2, "max_gross_exposure": 0.5},
    "execution": {"slippage_bps": 2.0, "commission_per_share": 0.01, "min_commission": 1.0},
}


@pytest.fixture
def config_data() -> dict[str, Any]:
    """A fresh copy of a small, valid config, to change per test."""
    return copy.deepcopy(BASE_CONFIG)


@pytest.fixture
def small_config(config_data: dict[str, Any]) -> BacktestConfig:
    return BacktestConfig.model_validate(config_data)


@pytest.fixture
def write_config(tmp_path: Path) -> Any:
    """``write_config(data_or_text, name=...)`` writes a config file and returns its path."""

    def write(content: dict[str, Any] | str, name: str = "backtest.yaml") -> Path:
        path = tmp_path / name
        text = content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False)
        path.write_text(text, encoding="utf-8")
        return path

    return write


def write_ohlcv_csv(path: Path, bars: SymbolBars, header: list[str] | None = None) -> Path:
    """Write ``bars`` as an OHLCV CSV with the given header (any case) and return its path."""
    names = header or ["Date", "Open", "High", "Low", "Close", "Volume"]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(names)
        for row in zip(
            bars.times, bars.opens, bars.highs, bars.lows, bars.closes, bars.volumes, strict=True
        ):
            writer.writerow([row[0].isoformat(sep=" "), *row[1:]])
    return path


@pytest.fixture
def csv_files(tmp_path: Path) -> dict[str, Path]:
    """Two symbols of daily OHLCV bars in CSV files (from the synthetic generator)."""
    data = SyntheticData(symbols=["XXX", "YYY"], interval_seconds=86_400, annual_volatility=0.5)
    merged = synthetic_bars(data, 200, seed=11)
    files: dict[str, Path] = {}
    for symbol in data.symbols:
        rows = [row for row in merged.rows if row[1] == symbol]
        bars = SymbolBars(
            symbol,
            [r[0] for r in rows],
            [r[2] for r in rows],
            [r[3] for r in rows],
            [r[4] for r in rows],
            [r[5] for r in rows],
            [r[6] for r in rows],
        )
        files[symbol] = write_ohlcv_csv(tmp_path / f"{symbol.lower()}.csv", bars)
    return files


def events_of(store: Store, run_id: str, event_type: str | None = None) -> list[dict[str, Any]]:
    """A run's events in seq order, payloads decoded."""
    sql = "SELECT seq, event_id, event_type, causation_id, payload, partition_key FROM events "
    sql += "WHERE run_id = ?" + (" AND event_type = ?" if event_type else "") + " ORDER BY seq"
    params = [run_id, event_type] if event_type else [run_id]
    rows = store.cursor().execute(sql, params).fetchall()
    keys = ("seq", "event_id", "event_type", "causation_id", "payload", "partition_key")
    events = [dict(zip(keys, row, strict=True)) for row in rows]
    for event in events:
        event["payload"] = orjson.loads(event["payload"])
    return events


def run_status(store: Store) -> list[tuple[str, str]]:
    """(run_id, status) of every run in the store."""
    return [(r, s) for r, s in store.cursor().execute("SELECT run_id, status FROM runs").fetchall()]
