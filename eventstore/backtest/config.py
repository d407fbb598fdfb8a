"""The backtest's configuration, as typed objects validated from YAML.

Every model forbids unknown keys, so a misspelt key is an error rather than a silently ignored
setting. Values that can't make a sensible backtest (a fast average slower than the slow one, a
negative cash balance, a strategy on a symbol the data doesn't have) are rejected here, before
any run row is opened.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

DEFAULT_SYNTHETIC_BARS = 500

StrategyType = Literal["moving_average_crossover", "mean_reversion", "breakout"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False, allow_inf_nan=False)


class SyntheticData(_Model):
    """Seeded random-walk OHLCV bars: the same seed always gives the same bars."""

    source: Literal["synthetic"] = "synthetic"
    symbols: list[str] = Field(min_length=1)
    start: datetime = datetime(2024, 1, 2, 9, 30)
    interval_seconds: int = Field(default=60, gt=0)
    start_price: float = Field(default=100.0, gt=0)
    annual_drift: float = 0.05
    annual_volatility: float = Field(default=0.2, gt=0, le=5)
    bars_per_year: int = Field(default=98_280, gt=0)  # 252 days of 390 one-minute bars

    @model_validator(mode="after")
    def _unique_symbols(self) -> SyntheticData:
        _check_unique(self.symbols, "data.symbols")
        return self


class CsvData(_Model):
    """OHLCV bars read from one file per symbol, CSV or Parquet (``source: csv`` or
    ``source: parquet`` alike: each file's format is told from its content); relative paths
    are relative to the config file's directory."""

    source: Literal["csv", "parquet"]
    files: dict[str, Path] = Field(min_length=1)

    @property
    def symbols(self) -> list[str]:
        return list(self.files)


DataConfig = Annotated[SyntheticData | CsvData, Field(discriminator="source")]


class _Strategy(_Model):
    name: str | None = None
    symbols: list[str] | None = Field(default=None, min_length=1)

    @property
    def label(self) -> str:
        """The name signals carry: the configured name, else the strategy type."""
        return self.name or str(getattr(self, "type"))  # noqa: B009 (type is on subclasses)


class MovingAverageCrossover(_Strategy):
    """Long when the fast simple moving average crosses above the slow one, short (or flat)
    when it crosses below."""

    type: Literal["moving_average_crossover"]
    fast: int = Field(default=5, ge=1)
    slow: int = Field(default=20, ge=2)

    @model_validator(mode="after")
    def _fast_below_slow(self) -> MovingAverageCrossover:
        if self.fast >= self.slow:
            raise ValueError(
                f"fast ({self.fast}) must be smaller than slow ({self.slow}): swap them or "
                "pick a shorter fast window"
            )
        return self


class MeanReversion(_Strategy):
    """Long when the close is ``entry_z`` standard deviations below its rolling mean, short
    when above, flat again once it is back within ``exit_z``."""

    type: Literal["mean_reversion"]
    window: int = Field(default=20, ge=3)
    entry_z: float = Field(default=2.0, gt=0)
    exit_z: float = Field(default=0.5, ge=0)

    @model_validator(mode="after")
    def _exit_inside_entry(self) -> MeanReversion:
        if self.exit_z >= self.entry_z:
            raise ValueError(
                f"exit_z ({self.exit_z}) must be smaller than entry_z ({self.entry_z}): a "
                "position must be able to close before it would reopen"
            )
        return self


class Breakout(_Strategy):
    """Long when the close breaks above the highest high of the previous ``window`` bars,
    short when it breaks below the lowest low."""

    type: Literal["breakout"]
    window: int = Field(default=20, ge=2)


StrategyConfig = Annotated[
    MovingAverageCrossover | MeanReversion | Breakout, Field(discriminator="type")
]


class RiskConfig(_Model):
    """Sizing and limits, as fractions of current equity."""

    position_size: float = Field(default=0.05, gt=0, le=1)
    max_position: float = Field(default=0.25, gt=0)
    max_gross_exposure: float = Field(default=1.0, gt=0)
    allow_short: bool = True


class ExecutionConfig(_Model):
    """Market orders fill at the next bar's open, moved against the order by the slippage."""

    slippage_bps: float = Field(default=1.0, ge=0, le=1000)
    commission_per_share: float = Field(default=0.005, ge=0)
    min_commission: float = Field(default=1.0, ge=0)


class BacktestConfig(_Model):
    """One backtest: data, strategies, risk and execution settings, and how long to run."""

    name: str = Field(min_length=1)
    seed: int = Field(default=0, ge=0, le=2**63 - 1)
    """Stored in the run's config (JSON, 64-bit integers), so it must fit in 63 bits."""
    bars: int | None = Field(default=None, ge=1, le=2**63 - 1)
    """Bars per symbol; None: every row of file data, ``DEFAULT_SYNTHETIC_BARS`` synthetic.
    Synthetic bars must end before the year 10000 (Python's last date)."""
    initial_cash: float = Field(default=1_000_000.0, gt=0)
    data: DataConfig
    strategies: list[StrategyConfig] = Field(min_length=1)
    risk: RiskConfig = RiskConfig()
    execution: ExecutionConfig = ExecutionConfig()

    @model_validator(mode="after")
    def _bars_fit_the_calendar(self) -> BacktestConfig:
        data = self.data
        if not isinstance(data, SyntheticData) or self.bars is None:
            return self
        seconds = (datetime.max - data.start) // timedelta(seconds=1)
        most = seconds // data.interval_seconds + 1
        if self.bars > most:
            raise ValueError(
                f"bars: {self.bars:,} bars of {data.interval_seconds} s from {data.start} would "
                f"end after the year 9999: use at most {most:,} bars (or a longer "
                "data.interval_seconds)"
            )
        return self

    @model_validator(mode="after")
    def _strategies_fit_data(self) -> BacktestConfig:
        known = set(self.data.symbols)
        labels: list[str] = []
        for index, strategy in enumerate(self.strategies):
            for symbol in strategy.symbols or ():
                if symbol not in known:
                    raise ValueError(
                        f"strategies[{index}].symbols: {symbol!r} is not in the data "
                        f"(symbols: {', '.join(sorted(known))}): add it to the data or remove it"
                    )
            labels.append(strategy.label)
        _check_unique(labels, "strategy names (set `name:` to tell two of a type apart)")
        return self

    def symbols_for(self, strategy: StrategyConfig) -> list[str]:
        """The symbols a strategy trades: its own list, else every symbol of the data."""
        return list(strategy.symbols or self.data.symbols)

    def to_record(self) -> dict[str, Any]:
        """The config as JSON-ready data, for the run's row in the database."""
        return self.model_dump(mode="json")


def _check_unique(values: list[str], what: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"{value!r} appears twice in {what}: each must be unique")
        seen.add(value)
