"""What DuckDB's JSON type costs at ingest, against plain text, for the ``payload`` column of
``run_events`` (issue 9, point 3: payload becomes JSON "if the ingest benchmark shows it costs
little").

Run from the repository root::

    python benchmarks/bench_payload_type.py                  # 1 000 000 rows, 5 repeats
    python benchmarks/bench_payload_type.py --rows 200000 --repeats 3

Rows are shaped like ``run_events`` (integer keys and codes, clock readings, a backtest-like
JSON payload of 80-130 bytes) and inserted from Arrow with ``INSERT … SELECT`` into a fresh
table in a fresh database file, three ways: in 10 000-row transactions (one per tracer batch),
in 200 000-row transactions, and as one bulk insert. The two column types are measured side by
side, interleaved within each repeat; the table gives median rows per second and the JSON/text
ratio. DuckDB validates every value cast to JSON, so the difference is the cost of parsing.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa

MODES = {"10k-row transactions": 10_000, "200k-row transactions": 200_000, "one bulk insert": 0}
TYPES = ("VARCHAR", "JSON")


def rows(count: int) -> pa.Table:
    rng = random.Random(5)
    symbols = ("SPY", "QQQ", "IWM", "TLT")
    payloads = []
    for i in range(count):
        close = 100 + rng.random() * 10
        payloads.append(
            orjson.dumps(
                {
                    "symbol": symbols[i % 4],
                    "open": round(close * 0.999, 4),
                    "high": round(close * 1.004, 4),
                    "low": round(close * 0.996, 4),
                    "close": round(close, 4),
                    "volume": 1_000_000 + i % 997 * 1000,
                }
                if i % 3
                else {"symbol": symbols[i % 4], "side": "BUY", "quantity": i % 90 + 10}
            ).decode()
        )
    seqs = pa.array(range(1, count + 1), pa.int64())
    return pa.table(
        {
            "seq": seqs,
            "type_code": pa.array([i % 5 for i in range(count)], pa.int32()),
            "sim_time": pa.array([i * 60_000_000 for i in range(count)], pa.timestamp("us")),
            "source_code": pa.array([5 + i % 4 for i in range(count)], pa.int32()),
            "causation_seq": pa.array([i or None for i in range(count)], pa.int64()),
            "root_seq": seqs,
            "end_seq": seqs,
            "created_ns": pa.array(range(0, count * 1000, 1000), pa.int64()),
            "emitted_ns": pa.array(range(10, count * 1000 + 10, 1000), pa.int64()),
            "payload": pa.array(payloads, pa.string()),
            "partition_key": pa.array([symbols[i % 4] for i in range(count)], pa.string()),
        }
    )


def insert(path: Path, table: pa.Table, payload_type: str, chunk: int) -> float:
    """Seconds to insert ``table`` into a fresh ``run_events``-shaped table."""
    for suffix in ("", ".wal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    con = duckdb.connect(str(path))
    con.execute(
        "CREATE TABLE run_events (run_no INTEGER, seq BIGINT, type_code INTEGER, "
        "sim_time TIMESTAMP, source_code INTEGER, causation_seq BIGINT, root_seq BIGINT, "
        "end_seq BIGINT, created_ns BIGINT, emitted_ns BIGINT, "
        f"payload {payload_type}, partition_key VARCHAR)"
    )
    pieces = [table] if chunk == 0 else table.to_batches(max_chunksize=chunk)
    started = time.perf_counter()
    for piece in pieces:
        con.begin()
        con.register("_piece", piece if isinstance(piece, pa.Table) else pa.table(piece))
        con.execute("INSERT INTO run_events SELECT 1, * FROM _piece")
        con.unregister("_piece")
        con.commit()
    con.execute("CHECKPOINT")
    elapsed = time.perf_counter() - started
    con.close()
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=" ".join((__doc__ or "").split("\n\n")[0].split()))
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    table = rows(args.rows)
    times: dict[tuple[str, str], list[float]] = {(m, t): [] for m in MODES for t in TYPES}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ingest.duckdb"
        for repeat in range(args.repeats):
            for mode, chunk in MODES.items():
                order = TYPES if repeat % 2 == 0 else TYPES[::-1]
                for payload_type in order:
                    times[mode, payload_type].append(insert(path, table, payload_type, chunk))
            print(f"  repeat {repeat + 1}/{args.repeats} done", file=sys.stderr)
    print(f"duckdb {duckdb.__version__}: {args.rows:,} run_events rows, medians of {args.repeats}")
    print(f"{'how':24} {'TEXT rows/s':>12} {'JSON rows/s':>12} {'JSON cost':>10}")
    for mode in MODES:
        text = statistics.median(times[mode, "VARCHAR"])
        json = statistics.median(times[mode, "JSON"])
        print(
            f"{mode:24} {args.rows / text:12,.0f} {args.rows / json:12,.0f} "
            f"{(json / text - 1) * 100:+9.0f}%"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
