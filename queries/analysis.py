"""The full analysis of one run, as titled tables: what ``eventstore analyze`` prints and what
a backtest shows when it ends."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from .latency import handler_times, latency_percentiles
from .lineage import signal_to_fill_chains
from .refs import resolve_run
from .runs import event_counts, run_summary
from .slices import Progress, part
from .store_access import StoreLike, opened
from .trades import trading_result

Section = tuple[str, pa.Table]


def chain_stats(chains: pa.Table) -> pa.Table:
    """One row over ``signal_to_fill_chains``: how many chains, their length (events) and
    signal → fill time (ms; p50/p90 interpolate linearly, like numpy)."""
    lengths = chains["chain_length"]
    times = chains["signal_to_fill_ms"]
    count = chains.num_rows

    def quantile(q: float) -> float | None:
        return None if count == 0 else float(pc.quantile(times, q=q)[0].as_py())

    return pa.table(
        {
            "chains": [count],
            "min_length": [pc.min(lengths).as_py()],
            "mean_length": [pc.mean(lengths).as_py()],
            "max_length": [pc.max(lengths).as_py()],
            "p50_ms": [quantile(0.5)],
            "p90_ms": [quantile(0.9)],
            "max_ms": [pc.max(times).as_py()],
        },
        schema=pa.schema(
            [
                ("chains", pa.int64()),
                ("min_length", pa.int64()),
                ("mean_length", pa.float64()),
                ("max_length", pa.int64()),
                ("p50_ms", pa.float64()),
                ("p90_ms", pa.float64()),
                ("max_ms", pa.float64()),
            ]
        ),
    )


def run_analysis(
    store: StoreLike, run_id: str, *, progress: Progress | None = None, trading: bool = True
) -> list[Section]:
    """Summary, events by type, the trading result of a backtest (``trading_result``; no such
    section for another run, or with ``trading=False``), latency by event type, handlers by
    self time (``handler_times``: where the run's time went) and SIGNAL → FILL chain
    statistics of one run (id, prefix or ``latest``), each a titled table. ``progress`` is
    told (work done, work in all) as the run is read: its latencies, then its chains."""
    with opened(store) as db:
        run = resolve_run(db, run_id).run_id
        latency = latency_percentiles(db, [run], by="type", progress=part(progress, 0, 2))
        chains = signal_to_fill_chains(db, run, progress=part(progress, 1, 2))
        traded = trading_result(db, run) if trading else None
        return [
            ("summary", run_summary(db, run)),
            ("events by type", event_counts(db, run)),
            *([("trading", traded)] if traded is not None and traded.num_rows else []),
            ("latency by event type (ms)", latency),
            ("handlers by self time (ms)", handler_times(db, run)),
            ("signal to fill chains", chain_stats(chains)),
        ]
