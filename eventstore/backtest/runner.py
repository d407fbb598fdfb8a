"""Running a backtest for a person at a terminal: a progress bar on long runs, a summary at the
end. Shared by ``eventstore run`` and ``main.py`` so the two never drift apart.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from eventstore import Sampling, Store
from eventstore.backtest.config import BacktestConfig, CsvData
from eventstore.backtest.container import BacktestContainer, BacktestResult
from eventstore.backtest.feed import ProgressCallback

PROGRESS_THRESHOLD = 20_000
"""Runs with fewer bars than this finish too fast for a progress bar to help."""


def run_backtest(
    config: BacktestConfig,
    store: Store | None = None,
    *,
    trace: bool = True,
    progress: bool = False,
    announce: bool | None = None,
    console: Console | None = None,
    sampling: Sampling | None = None,
) -> BacktestResult:
    """Build the backtest, run it and return its result.

    ``progress`` shows a progress bar on stderr if the run is long; ``announce`` (default: as
    ``progress``) first prints which run this is, so a user can find it in the database while
    it runs. ``sampling`` stores the run sampled (see ``Sampling``).
    """
    container = BacktestContainer(config, store, trace=trace, sampling=sampling)
    out = console or Console(stderr=True, soft_wrap=True)
    if progress if announce is None else announce:
        if container.correlation_id is not None:
            where = f"\n  into {store.path or store.url}" if store is not None else ""
            out.print(  # one item a line: an id and a path don't fit one 80-column line
                f"backtest {config.name}\n  run {container.correlation_id}{where}",
                highlight=False,
            )
        else:
            out.print(f"backtest {config.name}: untraced (--no-trace)", highlight=False)
        if isinstance(config.data, CsvData) and config.bars is not None:
            out.print(  # a `bars:` kept from a copied synthetic config cuts a file silently
                f"  at most {config.bars:,} bars per file (bars: {config.bars}):\n"
                "  remove it to read every row",
                highlight=False,
            )
    total = container.market_data.total  # None: files whose length is unknown until read
    long_run = total is None or total >= PROGRESS_THRESHOLD
    with _progress_bar(total, progress and long_run, out) as callback:
        return container.run(callback)


@contextmanager
def _progress_bar(
    total: int | None, enabled: bool, console: Console
) -> Iterator[ProgressCallback | None]:
    if not enabled:
        yield None
        return
    columns = (
        TextColumn("bars"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("bars", total=total)
        yield lambda done: bar.update(task, completed=done)


def print_summary(result: BacktestResult, console: Console | None = None) -> None:
    """The end-of-run summary: run id, events by type, orders, fills, equity and return."""
    out = console or Console()
    run = result.correlation_id or "untraced (--no-trace)"
    out.print(f"[bold]Backtest {result.name}[/bold]  correlation_id: {run}", highlight=False)
    counts = Table(title="Events by type", title_justify="left")
    counts.add_column("event type")
    counts.add_column("count", justify="right")
    for event_type, count in result.events_by_type.items():
        counts.add_row(event_type, f"{count:,}")
    counts.add_row("total", f"{result.event_count:,}", style="bold")
    out.print(counts)
    trading = Table(title="Trading", title_justify="left", show_header=False)
    trading.add_column("measure")
    trading.add_column("value", justify="right")
    trading.add_row("bars", f"{result.bars:,}")
    trading.add_row("orders", f"{result.orders:,}")
    trading.add_row("fills", f"{result.fills:,}")
    trading.add_row("rejected signals", f"{result.rejected_signals:,}")
    trading.add_row("open orders at end", f"{result.open_orders:,}")
    trading.add_row("commissions", f"{result.commissions:,.2f}")
    trading.add_row("initial cash", f"{result.initial_cash:,.2f}")
    trading.add_row("final equity", f"{result.final_equity:,.2f}")
    trading.add_row("return", f"{result.total_return:+.4%}")
    out.print(trading)
