"""Query helpers over a run store: why an event happened, what it caused, where the time
went, and how two runs differ.

Every helper takes a ``Store`` or a path/URL (opened read-only for the call), plain arguments
(run ids may be prefixes or ``latest``), binds parameters, and returns a ``pyarrow.Table`` for
tables or ``TracedEvent`` lists for chains. The SQL lives in ``queries/sql/*.sql``.
"""

from .adhoc import run_sql
from .analysis import chain_stats, run_analysis
from .compare import RunComparison, compare_runs, first_divergence, unmatched_trades
from .latency import latency_percentiles
from .lineage import ancestors, descendants, effects, signal_to_fill_chains, why
from .refs import EventRef, RunRef, resolve_event, resolve_run
from .runs import event_counts, list_runs, run_summary
from .sql_files import load_sql
from .store_access import StoreLike

__all__ = [
    "EventRef",
    "RunComparison",
    "RunRef",
    "StoreLike",
    "ancestors",
    "chain_stats",
    "compare_runs",
    "descendants",
    "effects",
    "event_counts",
    "first_divergence",
    "latency_percentiles",
    "list_runs",
    "load_sql",
    "resolve_event",
    "resolve_run",
    "run_analysis",
    "run_sql",
    "run_summary",
    "signal_to_fill_chains",
    "unmatched_trades",
    "why",
]
