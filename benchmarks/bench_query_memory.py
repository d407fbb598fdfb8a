"""Peak memory of the analysis commands on long runs: what a user's process grows to.

Run from the repository root::

    python benchmarks/bench_query_memory.py                     # two runs of 1 000 000 bars
    python benchmarks/bench_query_memory.py --bars 100000       # a quick look

The store holds two traced runs of ``config/multi_strategy_test.yaml`` (4 symbols, so
``--bars`` 1 000 000 is 4 million bars and about 5.5 million events a run), seeds 42 and 43,
made with ``eventstore run`` itself; it is cached (``--store``, default under /tmp) and reused
while it holds them (``--rebuild`` makes it again). Building it prints the peak memory of the
first ``eventstore run`` too: the traced backtest and the analysis it prints at the end.

Each command then runs ``--repeats`` times in a fresh process, its output thrown away, and the
table gives the median peak resident set size (the process's high-water mark, as
``/usr/bin/time -v`` reports it) and wall time. ``eventstore runs`` is the floor: the
interpreter, the libraries and an open store. ``--eventstore`` times another installation
(e.g. an older checkout's ``.venv/bin/eventstore``) on the same store, for a before/after
table. Memory figures hold on a loaded machine; wall times do not (the load average is
printed).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

CONFIG = Path(__file__).resolve().parents[1] / "config" / "multi_strategy_test.yaml"
SEEDS = (42, 43)


@dataclass(frozen=True)
class Measured:
    peak_mb: float
    wall_s: float


def measure(command: list[str]) -> Measured:
    """Run ``command`` with its output discarded; its peak RSS (MB) and wall time (s)."""
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    error = child.stderr.read().decode() if child.stderr else ""
    if child.returncode:
        sys.exit(f"{' '.join(command)} failed ({child.returncode}): {error.strip()[-500:]}")
    return Measured(usage.ru_maxrss / 1024, wall)


def stored_runs(path: Path) -> list[tuple[str, int]]:
    """(run id, events) of the completed runs in ``path``, oldest first; none if unreadable."""
    if not path.exists():
        return []
    try:
        with duckdb.connect(str(path), read_only=True) as con:
            rows = con.execute(
                "SELECT run_id, event_count FROM runs WHERE status = 'completed' ORDER BY run_no"
            ).fetchall()
    except duckdb.Error:
        return []
    return [(str(run), int(events)) for run, events in rows]


def build(eventstore: str, path: Path, bars: int, quiet: bool) -> Measured:
    """Trace one run per seed into a new ``path``; the first run's peak memory and time."""
    for suffix in ("", ".wal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    first = None
    for seed in SEEDS:
        if not quiet:
            print(f"  tracing {bars:,} bars per symbol, seed {seed}", file=sys.stderr)
        options = ["--bars", str(bars), "--seed", str(seed), "--db", str(path), "--quiet"]
        done = measure([eventstore, "run", "--config", str(CONFIG), *options])
        first = first or done
    assert first is not None
    return first


def commands(eventstore: str, db: Path, run_a: str, run_b: str) -> dict[str, list[str]]:
    """The analysis commands measured, by what the table calls them."""
    base = [eventstore]
    at = ["--db", str(db)]
    return {
        "runs (the floor)": [*base, "runs", *at],
        "analyze RUN": [*base, "analyze", run_a, *at, "-q"],
        "chains RUN": [*base, "chains", run_a, *at, "-q"],
        "chains RUN -f csv": [*base, "chains", run_a, *at, "-f", "csv", "-q"],
        "latency RUN": [*base, "latency", run_a, *at, "-q"],
        "latency RUN --by handler": [*base, "latency", run_a, "--by", "handler", *at, "-q"],
        "latency (both runs)": [*base, "latency", *at, "-q"],
        "latency --per-run": [*base, "latency", "--per-run", *at, "-q"],
        "compare RUN_A RUN_B": [*base, "compare", run_a, run_b, *at, "-q"],
        "compare RUN_A RUN_A": [*base, "compare", run_a, run_a, *at, "-q"],
    }


def _quiet_flag_known(eventstore: str) -> bool:
    """Whether this installation's analysis commands take ``-q`` (older ones did not)."""
    shown = subprocess.run([eventstore, "latency", "--help"], capture_output=True, text=True)
    return "--quiet" in shown.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=" ".join((__doc__ or "").split("\n\n")[0].split()))
    parser.add_argument(
        "--bars", type=int, default=1_000_000, help="bars per symbol (default 1 000 000)"
    )
    parser.add_argument("--repeats", type=int, default=1, help="runs of each command (median)")
    parser.add_argument("--store", type=Path, help="store file (default /tmp/...-BARS.duckdb)")
    parser.add_argument("--rebuild", action="store_true", help="trace the runs even if cached")
    parser.add_argument(
        "--eventstore",
        default=str(Path(sys.executable).parent / "eventstore"),
        help="the eventstore command to measure (default: this environment's)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)
    if args.bars < 100 or args.repeats < 1:
        parser.error("need --bars >= 100 and --repeats >= 1")
    path = args.store or Path(f"/tmp/eventstore-query-memory-{args.bars}.duckdb")
    runs = stored_runs(path)
    built = None
    if args.rebuild or len(runs) != len(SEEDS):
        if not args.quiet:
            print(f"building {path}", file=sys.stderr)
        built = build(args.eventstore, path, args.bars, args.quiet)
        runs = stored_runs(path)
    elif not args.quiet:
        print(f"reusing {path} (--rebuild to trace the runs again)", file=sys.stderr)
    (run_a, events_a), (run_b, events_b) = runs
    table = commands(args.eventstore, path, run_a, run_b)
    if not _quiet_flag_known(args.eventstore):
        table = {name: [word for word in line if word != "-q"] for name, line in table.items()}
    load = os.getloadavg()[0]
    rows: list[tuple[str, Measured]] = []
    if built is not None:
        rows.append(("run --bars N (trace + analysis)", built))
    for name, command in table.items():
        if not args.quiet:
            print(f"  {name}", file=sys.stderr)
        done = [measure(command) for _ in range(args.repeats)]
        rows.append(
            (
                name,
                Measured(
                    statistics.median(d.peak_mb for d in done),
                    statistics.median(d.wall_s for d in done),
                ),
            )
        )
    print(f"duckdb {duckdb.__version__}, {os.cpu_count()} CPUs, {args.eventstore}")
    print(
        f"store: {path}, {path.stat().st_size / 1e6:,.0f} MB: runs {run_a} ({events_a:,} "
        f"events) and {run_b} ({events_b:,}), {args.bars:,} bars per symbol"
    )
    print(f"medians of {args.repeats} run(s); load average {load:.1f} -> {os.getloadavg()[0]:.1f}")
    print()
    print(f"{'command':34} {'peak RSS MB':>12} {'wall s':>8}")
    print("-" * 56)
    for name, measured in rows:
        print(f"{name:34} {measured.peak_mb:12.0f} {measured.wall_s:8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
