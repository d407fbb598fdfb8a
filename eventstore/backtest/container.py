"""BacktestContainer: wires feed, strategies, risk, execution and portfolio onto one traced bus,
and runs them as one traced run.

Everything that can be wrong with the config, and with the start of each data file (its header
and first rows), is checked while the container is built, before its tracer exists, so such a
bad input never leaves a run row behind. Bars are read as the run goes: a bad row further down a
file ends the run ``failed`` with the same error, naming the file and line.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from eventstore import EventTracer, EventType, Sampling, TracedEventBus, UniversalContainer
from eventstore.backtest.config import DEFAULT_SYNTHETIC_BARS, BacktestConfig, CsvData
from eventstore.backtest.data_files import file_stream
from eventstore.backtest.execution import ExecutionSimulator
from eventstore.backtest.feed import DataFeed, ProgressCallback
from eventstore.backtest.market_data import Bars, BarStream
from eventstore.backtest.portfolio import Portfolio
from eventstore.backtest.risk import RiskManager
from eventstore.backtest.strategies import Strategy
from eventstore.backtest.synthetic import synthetic_stream
from eventstore.interrupts import sigterm_interrupts
from eventstore.tracing.writer import WriterSource

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BacktestResult:
    """What a finished backtest reports; ``correlation_id`` is None for an untraced run."""

    name: str
    correlation_id: str | None
    bars: int
    events_by_type: dict[str, int]
    orders: int
    fills: int
    rejected_signals: int
    open_orders: int
    initial_cash: float
    cash: float
    final_equity: float
    positions: dict[str, int] = field(default_factory=dict)
    commissions: float = 0.0

    @property
    def total_return(self) -> float:
        """Final equity over initial cash, minus one (0.012 is +1.2 %)."""
        return self.final_equity / self.initial_cash - 1.0

    @property
    def event_count(self) -> int:
        return sum(self.events_by_type.values())

    def trading_outcome(self) -> dict[str, Any]:
        """The parts of the result that tracing must never change (for comparisons)."""
        return {
            "events_by_type": self.events_by_type,
            "orders": self.orders,
            "fills": self.fills,
            "rejected_signals": self.rejected_signals,
            "cash": self.cash,
            "final_equity": self.final_equity,
            "positions": self.positions,
        }


def load_market_data(config: BacktestConfig) -> BarStream:
    """The bars the config asks for, as a stream: synthetic from its seed, or read from its
    files (the first ``config.bars`` rows of each, or all of them)."""
    data = config.data
    if isinstance(data, CsvData):
        return file_stream(data.files, config.bars)
    return synthetic_stream(data, config.bars or DEFAULT_SYNTHETIC_BARS, config.seed)


class BacktestContainer(UniversalContainer):
    """A whole backtest on one ``TracedEventBus``.

    With ``trace=True`` it records the run with an ``EventTracer`` into ``store`` (a store or
    any other source of writers, such as a sweep's segment spool; only in memory if None), the
    config on the run's row; with ``trace=False`` the same containers run on the same bus with
    no tracer attached: plain dispatch, same trades. ``sampling`` stores a sampled run
    (``Sampling``); the trades are the same.
    """

    def __init__(
        self,
        config: BacktestConfig,
        store: WriterSource | None = None,
        *,
        trace: bool = True,
        market_data: Bars | None = None,
        batch_size: int | None = None,
        sampling: Sampling | None = None,
    ) -> None:
        bus = TracedEventBus("backtest_main")
        super().__init__("BacktestContainer", config.to_record(), bus)
        self.settings = config
        self.bus = bus
        self.market_data = market_data if market_data is not None else load_market_data(config)
        self.portfolio = Portfolio(config.initial_cash, bus)
        self.execution = ExecutionSimulator(config.execution, bus)
        self.risk = RiskManager(config.risk, self.portfolio, bus)
        self.strategies = [
            Strategy(strategy, config.symbols_for(strategy), bus) for strategy in config.strategies
        ]
        self.feed = DataFeed(self.market_data, bus)
        self.tracer: EventTracer | None = None
        if trace:
            options: dict[str, Any] = {} if batch_size is None else {"batch_size": batch_size}
            self.tracer = EventTracer(
                store=store,
                name=config.name,
                config=config.to_record(),
                sampling=sampling,
                **options,
            )
        self.correlation_id = None if self.tracer is None else self.tracer.correlation_id

    def run(self, progress: ProgressCallback | None = None) -> BacktestResult:
        """Publish every bar and return the result; a traced run is closed ``completed``,
        ``failed`` (and the error re-raised) if a handler raises, ``interrupted`` on Ctrl-C or
        SIGTERM."""
        if self.tracer is None:
            logger.info("backtest %s starting, untraced", self.settings.name)
            self.feed.run(progress)
            return self.result()
        logger.info(
            "backtest %s starting with correlation_id: %s", self.settings.name, self.correlation_id
        )
        # SIGTERM (a scheduler stopping a sweep) ends the run `interrupted`, flushed, like Ctrl-C.
        with sigterm_interrupts(), self.tracer as tracer:
            self.bus.set_tracer(tracer)
            try:
                self.feed.run(progress)
            finally:
                self.bus.set_tracer(None)
        return self.result()

    def result(self) -> BacktestResult:
        """The result so far (after ``run``: the final one)."""
        portfolio, risk, execution = self.portfolio, self.risk, self.execution
        counts = {
            EventType.BAR.value: self.feed.published,
            EventType.SIGNAL.value: sum(s.signals for s in self.strategies),
            EventType.SIGNAL_REJECTED.value: risk.rejected,
            EventType.ORDER.value: risk.orders,
            EventType.FILL.value: execution.fills,
            EventType.PORTFOLIO_UPDATE.value: portfolio.updates,
        }
        return BacktestResult(
            name=self.settings.name,
            correlation_id=self.correlation_id,
            bars=self.feed.published,
            events_by_type=counts,
            orders=risk.orders,
            fills=execution.fills,
            rejected_signals=risk.rejected,
            open_orders=execution.open_orders,
            initial_cash=portfolio.initial_cash,
            cash=portfolio.cash,
            final_equity=portfolio.equity,
            positions=dict(sorted(portfolio.positions.items())),
            commissions=portfolio.commissions,
        )
