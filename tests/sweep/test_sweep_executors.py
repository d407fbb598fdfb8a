"""A sweep of 8 runs on 2 real worker processes, on each executor (local processes and a real
Dask ``LocalCluster``), with one worker killed by SIGKILL mid-run: every other run is stored
whole, the killed one is ``crashed`` (with what it committed), the table is sorted and fits 80
columns, and ``eventstore compare`` works across two of the sweep's runs."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy
from typer.testing import CliRunner

from eventstore import open_store
from eventstore.backtest.container import BacktestContainer
from eventstore.cli import app
from eventstore.sweep import load_sweep, run_sweep
from eventstore.sweep.executors import Executor
from eventstore.sweep.worker import TEST_KILL_ENV

from .conftest import KILL_AFTER, KILLED_POINT, SWEEP, event_counts, runs

runner = CliRunner()


@pytest.fixture(scope="module")
def serial_counts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, int]]:
    """Every point of the sweep run one after another in this process, into its own file."""
    import yaml

    folder = tmp_path_factory.mktemp("serial")
    sweep_file = folder / "sweep.yaml"
    sweep_file.write_text(yaml.safe_dump(SWEEP, sort_keys=False), encoding="utf-8")
    db = folder / "serial.duckdb"
    with open_store(db) as store:
        for point in load_sweep(sweep_file).points:
            BacktestContainer(point.config, store).run()
    return event_counts(db)


def _table_rows(output: str) -> list[list[str]]:
    """The cells of the sweep table's rows (a crashed run's row has no return or trades)."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("──")) + 1
    rows = []
    for line in lines[start:]:
        if not line.strip() or line.split()[-1] not in ("completed", "crashed", "failed"):
            break
        rows.append(line.split())
    return rows


@pytest.mark.parametrize("executor", ["local", "dask"])
def test_a_killed_worker_leaves_its_run_crashed_and_the_sweep_goes_on(
    executor: str,
    sweep_file: Path,
    tmp_path: Path,
    serial_counts: dict[str, dict[str, int]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = tmp_path / "runs.duckdb"
    monkeypatch.setenv(TEST_KILL_ENV, f"{KILLED_POINT}:{KILL_AFTER}")
    monkeypatch.setenv("COLUMNS", "80")
    args = ["sweep", "-c", str(sweep_file), "--workers", "2", "--executor", executor]
    result = runner.invoke(app, [*args, "--db", str(db), "--quiet"])
    assert result.exit_code == 1, result.output  # a run did not complete: the sweep says so
    assert result.stderr.strip() == (
        "error: 1 of 8 runs did not complete (see their rows and notes above)"
    )

    killed = load_sweep(sweep_file).points[KILLED_POINT].config.name
    stored = runs(db)
    assert len(stored) == 8
    tag, status, count = stored[killed]
    assert status == "crashed"
    assert count >= KILL_AFTER  # it flushed before it was killed: those events are loaded
    assert count == sum(n for kind, n in event_counts(db)[killed].items() if kind.isupper())
    assert {name for name, (_, s, _) in stored.items() if s != "completed"} == {killed}
    others = {name: counts for name, counts in event_counts(db).items() if name != killed}
    assert others == {name: c for name, c in serial_counts.items() if name != killed}

    rows = _table_rows(result.stdout)
    assert len(rows) == 8
    returns = [float(row[4]) for row in rows if row[-1] == "completed"]
    assert returns == sorted(returns, reverse=True)
    assert rows[-1][0] == tag and rows[-1][-1] == "crashed"  # no return: last
    assert "killed by signal SIGKILL" in result.stdout or "KilledWorker" in result.stdout
    # Only a line naming the database (a path) may be longer than the terminal.
    assert max(len(line) for line in result.stdout.splitlines() if str(db) not in line) <= 80
    assert not db.with_name("runs.duckdb.sweep").exists()  # the spool is gone

    compared = runner.invoke(app, ["compare", rows[0][0], rows[1][0], "--db", str(db)])
    assert compared.exit_code == 0, compared.output
    assert "events by type" in compared.stdout


def test_run_sweep_returns_every_point_with_its_parameters(
    sweep_file: Path, tmp_path: Path
) -> None:
    result = run_sweep(sweep_file, workers=2, db=tmp_path / "runs.duckdb")
    assert [run.index for run in result.runs] == list(range(8))
    assert {run.status for run in result.runs} == {"completed"}
    assert result.labels == {
        "strategies.moving_average_crossover.fast": "fast",
        "seed": "seed",
        "symbols": "symbols",
    }
    by_trades = result.sorted_runs("trades")
    assert [r.trades for r in by_trades] == sorted((r.trades for r in result.runs), reverse=True)
    stored = runs(tmp_path / "runs.duckdb")
    for run in result.runs:
        fast, seed, symbols = run.params.values()
        name = f"sweep_test fast={fast} seed={seed} symbols={','.join(symbols)}"
        assert stored[name] == (run.tag, "completed", run.events)


@pytest.mark.parametrize("executor", ["local", "dask"])
def test_on_postgresql_workers_write_directly_and_a_killed_one_is_crashed_at_once(
    executor: Executor,
    sweep_file: Path,
    pg_url: str,
    serial_counts: dict[str, dict[str, int]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The last point: no worker opens the store after it dies (an open marks dead runs too).
    last = len(load_sweep(sweep_file).points) - 1
    monkeypatch.setenv(TEST_KILL_ENV, f"{last}:{KILL_AFTER}")
    result = run_sweep(sweep_file, workers=2, executor=executor, db=pg_url)

    killed = load_sweep(sweep_file).points[last].config.name
    assert [r.status for r in result.runs].count("crashed") == 1
    # Read with a bare engine first: opening the store would mark dead runs itself.
    engine = sqlalchemy.create_engine(pg_url)
    with engine.connect() as conn:
        status = {
            name: (state, count)
            for name, state, count in conn.execute(
                sqlalchemy.text("SELECT name, status, event_count FROM runs")
            )
        }
        [killed_id] = conn.execute(
            sqlalchemy.text("SELECT run_id FROM runs WHERE name = :name"), {"name": killed}
        ).scalars()
    engine.dispose()
    # The worker died before it could report its run: the sweep found the run it had begun
    # (its row names the worker's pid) and reports it as the store holds it.
    crashed = result.runs[last]
    assert (crashed.run_id, crashed.status, crashed.events) == (
        killed_id,
        "crashed",
        status[killed][1],
    )
    assert crashed.tag is not None and killed_id.endswith(crashed.tag)
    assert crashed.tag in result.table().column("run").to_pylist()
    with open_store(pg_url, read_only=True) as store:
        stored: dict[str, dict[str, int]] = {}
        for row in store.fetch_records(
            "SELECT r.name, e.event_type, count(*) AS n FROM events AS e "
            "JOIN runs AS r USING (run_id) GROUP BY r.name, e.event_type"
        ):
            stored.setdefault(row["name"], {})[row["event_type"]] = row["n"]
    assert len(status) == 8
    assert status[killed][0] == "crashed"  # marked by the sweep, not left `running`
    assert status[killed][1] >= KILL_AFTER
    for name, counts in serial_counts.items():
        if name != killed:
            assert status[name][0] == "completed"
            assert stored[name] == {k: n for k, n in counts.items() if k.isupper()}


def test_a_worker_that_raises_leaves_its_run_failed_and_the_sweep_exits_1(
    tmp_path: Path,
) -> None:
    """A bad row 1 500 lines down a data file (past the rows checked before a run starts)
    fails the run that reads that far; the other run completes and both are printed."""
    import yaml

    rows = ["date,open,high,low,close,volume"]
    for minute in range(1_600):
        close = 100 + minute % 7
        rows.append(f"{1704187800 + 60 * minute},{close},{close + 1},{close - 1},{close},10")
    rows[1_500] = rows[1_500].replace(",", ",oops", 1)
    (tmp_path / "bars.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    base = {**SWEEP["backtest"], "data": {"source": "csv", "files": {"AAA": "bars.csv"}}}
    sweep = {"name": "raises", "backtest": base, "grid": {"bars": [100, 1_600]}}
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(sweep, sort_keys=False), encoding="utf-8")
    args = ["sweep", "-c", str(path), "--workers", "2", "--db", str(tmp_path / "runs.duckdb")]
    result = runner.invoke(app, [*args, "--quiet"], env={"COLUMNS": "80"})
    assert result.exit_code == 1, result.output
    assert "1 of 2 runs did not complete" in result.stderr
    statuses = sorted(row[-1] for row in _table_rows(result.stdout))
    assert statuses == ["completed", "failed"], result.stdout
    assert "bars.csv, line 1501" in " ".join(result.stdout.split())  # notes are wrapped
