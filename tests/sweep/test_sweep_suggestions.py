"""What the sweep suggests after its table: `eventstore compare` only between two runs that
completed; when fewer did, where to read why the others stopped."""

from __future__ import annotations

from pathlib import Path

import duckdb
import yaml
from typer.testing import CliRunner

from eventstore.cli import app

from .conftest import SWEEP


def _sweep_over_a_bad_row(tmp_path: Path, bars: list[int]) -> Path:
    """A CSV file whose row 1 500 is bad: a run reading that far fails (past the rows checked
    before it starts), a shorter one completes."""
    rows = ["date,open,high,low,close,volume"]
    for minute in range(1_800):
        close = 100 + minute % 7
        rows.append(f"{1704187800 + 60 * minute},{close},{close + 1},{close - 1},{close},10")
    rows[1_500] = rows[1_500].replace(",", ",oops", 1)
    (tmp_path / "bars.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    base = {**SWEEP["backtest"], "data": {"source": "csv", "files": {"AAA": "bars.csv"}}}
    path = tmp_path / "sweep.yaml"
    sweep = {"name": "bad_row", "backtest": base, "grid": {"bars": bars}}
    path.write_text(yaml.safe_dump(sweep, sort_keys=False), encoding="utf-8")
    return path


def _sweep(path: Path, db: Path, *more: str) -> tuple[int, str]:
    args = ["sweep", "-c", str(path), "--workers", "2", "--db", str(db), "--quiet", *more]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "80"})
    return result.exit_code, result.stdout


def _statuses(db: Path) -> dict[str, str]:
    with duckdb.connect(str(db), read_only=True) as con:
        return dict(con.execute("SELECT tag, status FROM runs").fetchall())


def test_when_every_run_failed_it_points_at_the_errors_not_at_compare(tmp_path: Path) -> None:
    db = tmp_path / "runs.duckdb"
    code, out = _sweep(_sweep_over_a_bad_row(tmp_path, [1_600, 1_700]), db)
    assert code == 1
    assert set(_statuses(db).values()) == {"failed"}
    assert "eventstore compare" not in out
    said = " ".join(out.split("\n\n")[-1].split())
    assert said == (
        "no run completed, so there is nothing to compare: the notes above say why the runs "
        f"stopped, as does the error column of eventstore runs --db {db}"
    )
    assert out.endswith(f"\n  eventstore runs --db {db}\n")  # a line of its own, to copy
    assert max(len(line) for line in out.splitlines() if str(db) not in line) <= 80


def test_compare_is_suggested_between_completed_runs_only(tmp_path: Path) -> None:
    db = tmp_path / "runs.duckdb"
    # By events the failed run, which read 1 500 rows, comes first in the table.
    code, out = _sweep(
        _sweep_over_a_bad_row(tmp_path, [100, 200, 1_600]), db, "--sort-by", "events"
    )
    assert code == 1
    statuses = _statuses(db)
    completed = {tag for tag, status in statuses.items() if status == "completed"}
    assert len(completed) == 2 and len(statuses) == 3
    suggested = out.split("compare two of them:\n  eventstore compare ")[1].split()[:2]
    assert set(suggested) == completed


def test_one_completed_run_has_nothing_to_compare_with(tmp_path: Path) -> None:
    db = tmp_path / "runs.duckdb"
    code, out = _sweep(_sweep_over_a_bad_row(tmp_path, [100, 1_600]), db)
    assert code == 1
    assert "eventstore compare" not in out
    said = " ".join(out.split("\n\n")[-1].split())
    assert said.startswith("only one run completed, so there is nothing to compare: the notes")
    assert "why the others stopped" in said


def test_the_summary_counts_one_run_and_the_workers_it_used(tmp_path: Path) -> None:
    """A sweep of one point with two workers started one: "1 run", "1 local worker"."""
    code, out = _sweep(_sweep_over_a_bad_row(tmp_path, [100]), tmp_path / "runs.duckdb")
    assert code == 0
    assert out.startswith("sweep bad_row: 1 run, 1 completed, in ")
    assert "s (1 local worker)\n" in out.splitlines(keepends=True)[0]


def test_a_wide_grid_fits_80_columns_and_keeps_each_runs_status(tmp_path: Path) -> None:
    """The sweep has no --format: what leaves a narrow row goes under it, never out of the
    table, and a run's status is the last to leave."""
    grid = {
        "strategies.moving_average_crossover.fast": [2, 4],
        "strategies.channel.window": [5, 10],
        "risk.position_size": [0.1, 0.2],
        "symbols": [["AAA", "BBB", "CCC", "DDD"], ["AAA"]],
    }
    sweep = {"name": "a_sweep_with_a_rather_long_name", "backtest": SWEEP["backtest"], "grid": grid}
    path = tmp_path / "wide.yaml"
    path.write_text(yaml.safe_dump(sweep, sort_keys=False), encoding="utf-8")
    code, out = _sweep(path, tmp_path / "runs.duckdb")
    assert code == 0
    lines = out.splitlines()
    assert max(len(line) for line in lines if "runs.duckdb" not in line) <= 80
    header = next(line for line in lines if line.startswith("run "))
    assert header.split()[-1] == "status"
    assert "not shown at this width" not in out and "--format" not in out
    details = [line.strip().split("  ")[0] for line in lines if line.startswith("    ")]
    assert details.count("symbols: AAA,BBB,CCC,DDD") == 8 and details.count("symbols: AAA") == 8
    assert out.count("completed\n") == 16
