"""Running a backtest for a person at a terminal: a progress bar on long runs, a summary at the
end. Shared by ``eventstore run`` and ``main.py`` so the two never drift apart.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

import pyarrow as pa
from rich.console import Console

from eventstore import Sampling, Store
from eventstore.backtest.config import BacktestConfig, CsvData
from eventstore.backtest.container import BacktestContainer, BacktestResult
from eventstore.backtest.feed import ProgressCallback
from eventstore.progress import progress_bar
from eventstore.render import render_sections
from eventstore.table_views import trading_view

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
    bars_option: bool = False,
) -> BacktestResult:
    """Build the backtest, run it and return its result.

    ``progress`` shows a progress bar on stderr if the run is long; ``announce`` (default: as
    ``progress``) first prints which run this is, so a user can find it in the database while
    it runs. ``sampling`` stores the run sampled (see ``Sampling``). ``bars_option`` says the
    config's ``bars`` came from a ``--bars`` option, so the note on files cut short names it.
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
                f"  at most {config.bars:,} bars per file (--bars {config.bars})"
                if bars_option
                else f"  at most {config.bars:,} bars per file (bars: {config.bars}):\n"
                "  remove it to read every row",
                highlight=False,
            )
    total = container.market_data.total  # None: files whose length is unknown until read
    long_run = total is None or total >= PROGRESS_THRESHOLD
    try:
        with _progress_bar(total, progress and long_run, out) as callback:
            return container.run(callback)
    except KeyboardInterrupt as exc:
        _say_stopped(container, store, exc, out)
        raise


def _say_stopped(
    container: BacktestContainer, store: Store | None, exc: KeyboardInterrupt, out: Console
) -> None:
    """Ctrl-C or SIGTERM ended the run: say how it was left and how to look at it, since the
    program stops without a summary (even with ``--quiet``: this is no progress message)."""
    tracer = container.tracer
    if tracer is None or tracer.status is None:
        return
    why = str(exc) or "stopped by Ctrl-C"
    where = f" --db {store.where}" if store is not None and store.path is not None else ""
    out.print(  # the run's tag, not its id: two lines of 80 columns
        f"{why}: run {tracer.tag} ended {tracer.status}\n"
        f"  {tracer.stored_count:,} events stored: eventstore analyze {tracer.tag}{where}",
        highlight=False,
    )


@contextmanager
def _progress_bar(
    total: int | None, enabled: bool, console: Console
) -> Iterator[ProgressCallback | None]:
    """Bars published so far, as every command shows progress (a bar, or lines in a log);
    from the first moment, since only long runs ask for it."""
    if not enabled:
        yield None
        return
    with progress_bar("bars", False, console=console, show_after=0) as report:
        yield lambda done: report(done, total)


def print_summary(
    result: BacktestResult, file: TextIO | None = None, *, events: bool = True
) -> None:
    """The end-of-run summary, in the plain tables of the query commands: events by type,
    then orders, fills, equity and return. ``events=False`` leaves out the events, for a
    summary followed by the run's analysis, which shows them."""
    out = file or sys.stdout
    sections = []
    if events:
        title = "events by type" + ("" if result.correlation_id else " (untraced: not stored)")
        counts = [*result.events_by_type.items(), ("total", result.event_count)]
        sections.append(
            (
                title,
                pa.table({"event_type": [t for t, _ in counts], "events": [n for _, n in counts]}),
            )
        )
    figures = {
        "bars": result.bars,
        "orders": result.orders,
        "fills": result.fills,
        "rejected_signals": result.rejected_signals,
        "open_orders": result.open_orders,
        "commissions": result.commissions,
        "initial_cash": result.initial_cash,
        "final_equity": result.final_equity,
        "total_return": result.total_return,
    }
    sections.append(("trading", trading_view(figures)))
    render_sections(sections, file=out)
    out.write("\n")
