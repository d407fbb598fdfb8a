"""Fixtures for sweep tests: a small sweep file (8 runs of a few hundred bars) and helpers that
read runs back from the database with plain SQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

SWEEP: dict[str, Any] = {
    "name": "sweep_test",
    "backtest": {
        "name": "base",
        "bars": 150,
        "initial_cash": 100_000,
        "data": {"source": "synthetic", "symbols": ["AAA", "BBB"], "annual_volatility": 0.6},
        "strategies": [
            {"type": "moving_average_crossover", "fast": 3, "slow": 8},
            {"name": "channel", "type": "breakout", "window": 10},
        ],
    },
    "grid": {
        "strategies.moving_average_crossover.fast": [2, 4],
        "seed": [1, 2],
        "symbols": [["AAA"], ["AAA", "BBB"]],
    },
}
KILLED_POINT = 3
"""fast=2, seed=2, symbols=AAA,BBB: 300 bars, killed after 120 events."""
KILL_AFTER = 120


@pytest.fixture
def sweep_file(tmp_path: Path) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(SWEEP, sort_keys=False), encoding="utf-8")
    return path


def event_counts(db: Path) -> dict[str, dict[str, int]]:
    """Run name → events stored by type (and ``edges``, ``deliveries``), straight from the
    tables."""
    counts: dict[str, dict[str, int]] = {}
    with duckdb.connect(str(db), read_only=True) as con:
        for name, kind, count in con.execute(
            "SELECT r.name, e.event_type, count(*) FROM events AS e "
            "JOIN runs AS r USING (run_id) GROUP BY ALL"
        ).fetchall():
            counts.setdefault(name, {})[kind] = count
        for table in ("lineage_edges", "deliveries"):
            for name, count in con.execute(
                f"SELECT r.name, count(*) FROM {table} AS t JOIN runs AS r USING (run_id) "
                "GROUP BY ALL"
            ).fetchall():
                counts.setdefault(name, {})[table] = count
    return counts


def runs(db: Path) -> dict[str, tuple[str, str, int]]:
    """Run name → (tag, status, event_count)."""
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("SELECT name, tag, status, event_count FROM runs").fetchall()
    return {name: (tag, status, count) for name, tag, status, count in rows}
