"""The terminal side of a run: which run it is at the start, a progress bar on long runs only,
and a summary at the end."""

from __future__ import annotations

import io

from rich.console import Console

from eventstore import Store
from eventstore.backtest import BacktestConfig, print_summary, run_backtest
from eventstore.backtest.runner import PROGRESS_THRESHOLD


def _console() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, force_terminal=True, width=120, soft_wrap=True), buffer


def test_a_traced_run_announces_its_correlation_id(
    store: Store, small_config: BacktestConfig
) -> None:
    console, buffer = _console()
    result = run_backtest(small_config, store, progress=True, console=console)
    assert f"run {result.correlation_id}\n  into {store.path}" in buffer.getvalue()


def test_quiet_runs_print_nothing_while_running(small_config: BacktestConfig) -> None:
    console, buffer = _console()
    run_backtest(small_config, trace=False, progress=False, console=console)
    assert buffer.getvalue() == ""


def test_long_runs_show_a_progress_bar(small_config: BacktestConfig) -> None:
    symbols = len(small_config.data.symbols)
    long_config = small_config.model_copy(update={"bars": PROGRESS_THRESHOLD // symbols + 1})
    console, buffer = _console()
    run_backtest(long_config, trace=False, progress=True, announce=False, console=console)
    assert "bars" in buffer.getvalue() and "━" in buffer.getvalue()


def test_summary_has_counts_equity_and_return(small_config: BacktestConfig) -> None:
    result = run_backtest(small_config, trace=False)
    buffer = io.StringIO()
    print_summary(result, buffer)
    text = buffer.getvalue()
    assert "untraced" in text
    assert f"{result.fills:,}" in text
    assert f"{result.final_equity:,.2f}" in text
    assert f"{result.total_return:+.4%}" in text
