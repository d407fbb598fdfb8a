"""Run the demo multi-strategy backtest, traced into a run database, and print its analysis.

    python main.py --config config/multi_strategy_test.yaml --bars 50

The same as ``eventstore run``, written as any system using eventstore would be: the public
API and the demo backtester to load a config, open a store and run; ``eventstore analyze``'s
renderer for the analysis (event counts, latencies, signal -> fill chains and their lengths).
"""

from __future__ import annotations

import argparse
import logging
import sys

from eventstore import EventStoreError, open_store
from eventstore.backtest import load_config, print_summary, run_backtest
from eventstore.cli_queries import show_analysis
from eventstore.store.duckdb_memory import read_memory_limit


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--config", required=True, help="backtest config (YAML)")
    parser.add_argument("--bars", type=int, help="bars per symbol (default: the config's)")
    parser.add_argument("--seed", type=int, help="random seed (default: the config's)")
    parser.add_argument("--db", default="runs.duckdb", help="run database (default: %(default)s)")
    parser.add_argument("--no-trace", action="store_true", help="run without tracing")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or log lines")
    args = parser.parse_args(argv)
    if args.bars is not None and args.bars < 1:
        parser.error(f"--bars must be at least 1, got {args.bars}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.quiet:
        # The backtest logs its correlation_id when it starts.
        # Its own INFO lines only: the schema migrations' are not news to a user.
        logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
        logging.getLogger("eventstore").setLevel(logging.INFO)
    try:
        config = load_config(args.config, bars=args.bars, seed=args.seed)
        if args.no_trace:
            print_summary(
                run_backtest(config, trace=False, progress=not args.quiet, announce=False)
            )
            return 0
        with open_store(args.db, memory_limit=read_memory_limit()) as store:
            # The start line is logged (with the correlation_id) by the backtest itself.
            result = run_backtest(config, store, progress=not args.quiet, announce=False)
            print_summary(result, events=result.correlation_id is None)
            if result.correlation_id is not None:
                # what `eventstore analyze` prints
                show_analysis(store, result.correlation_id, quiet=args.quiet)
    except EventStoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
