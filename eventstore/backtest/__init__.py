"""A demo multi-strategy backtester built on eventstore's public API: a real event flow
(BAR → SIGNAL → ORDER → FILL → PORTFOLIO_UPDATE) to trace, query and compare.

It is a user of the library like any other system: nothing in eventstore's core imports it.
"""

from eventstore.backtest.config import BacktestConfig
from eventstore.backtest.container import BacktestContainer, BacktestResult, load_market_data
from eventstore.backtest.csv_data import load_csv
from eventstore.backtest.loading import load_config
from eventstore.backtest.market_data import Bars, BarStream, MarketData, SymbolBars
from eventstore.backtest.runner import print_summary, run_backtest
from eventstore.backtest.synthetic import synthetic_bars, synthetic_stream

__all__ = [
    "BacktestConfig",
    "BacktestContainer",
    "BacktestResult",
    "BarStream",
    "Bars",
    "MarketData",
    "SymbolBars",
    "load_config",
    "load_csv",
    "load_market_data",
    "print_summary",
    "run_backtest",
    "synthetic_bars",
    "synthetic_stream",
]
