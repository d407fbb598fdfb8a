"""A small real backtest traced into a DuckDB file, for tests of figures, timelines and
reports that need portfolio updates and the full BAR → SIGNAL → ORDER → FILL flow."""

from __future__ import annotations

from pathlib import Path

from eventstore import open_store
from eventstore.backtest import BacktestContainer, load_config

CONFIG = Path(__file__).resolve().parents[2] / "config" / "multi_strategy_test.yaml"


def traced_backtests(path: Path, seeds: tuple[int, ...] = (42, 43), bars: int = 120) -> list[str]:
    """Run the demo backtest once per seed into ``path``; return the run ids in that order."""
    with open_store(path) as store:
        return [
            BacktestContainer(load_config(CONFIG, bars=bars, seed=seed), store).run().correlation_id
            or ""
            for seed in seeds
        ]
