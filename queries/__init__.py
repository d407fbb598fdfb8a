"""Query helpers over a run store: why an event happened, what it caused, where the time
went, and how two runs differ.

Every helper takes a ``Store`` or a path/URL (opened read-only for the call), plain arguments
(run ids may be prefixes or ``latest``), binds parameters, and returns a ``pyarrow.Table`` for
tables or ``TracedEvent`` lists for chains. The SQL lives in ``queries/sql/*.sql``.
"""

from .adhoc import run_sql, stream_sql
from .analysis import chain_stats, run_analysis
from .compare import RunComparison, compare_runs, first_divergence, unmatched_trades
from .graph import CausationGraph, causation_graph, graph_text
from .graph_draw import draw_graph
from .latency import handler_times, latency_group, latency_percentiles
from .lineage import ancestors, descendants, effects, signal_to_fill_chains, why
from .output import atomic_text, figure_format, save_figure
from .perfetto import TraceExport, write_perfetto
from .plots import latency_plot_data, plot_equity, plot_latency
from .refs import EventRef, RunRef, all_runs, resolve_event, resolve_run
from .report import report_file, report_html, write_report
from .runs import event_counts, list_runs, run_summary
from .sql_files import load_sql
from .store_access import StoreLike
from .trades import (
    equity_curve,
    equity_over_run,
    orders_and_fills,
    trade_events,
    trading_result,
)

__all__ = [
    "CausationGraph",
    "EventRef",
    "RunComparison",
    "RunRef",
    "StoreLike",
    "TraceExport",
    "all_runs",
    "ancestors",
    "atomic_text",
    "causation_graph",
    "chain_stats",
    "compare_runs",
    "descendants",
    "draw_graph",
    "effects",
    "equity_curve",
    "equity_over_run",
    "event_counts",
    "figure_format",
    "first_divergence",
    "graph_text",
    "handler_times",
    "latency_group",
    "latency_percentiles",
    "latency_plot_data",
    "list_runs",
    "load_sql",
    "orders_and_fills",
    "plot_equity",
    "plot_latency",
    "report_file",
    "report_html",
    "resolve_event",
    "resolve_run",
    "run_analysis",
    "run_sql",
    "run_summary",
    "save_figure",
    "signal_to_fill_chains",
    "stream_sql",
    "trade_events",
    "trading_result",
    "unmatched_trades",
    "why",
    "write_perfetto",
    "write_report",
]
