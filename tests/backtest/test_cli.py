"""``eventstore run`` and ``python main.py``: a traced run into the database, a summary, and
one clear line (exit code 1, no run row left running) for every bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml
from typer.testing import CliRunner

from eventstore import ConfigError
from eventstore.backtest import load_config
from eventstore.cli import app
from tests.cli.conftest import error_message

from .conftest import MULTI_STRATEGY, REPO

runner = CliRunner()


def _runs(db_path: Path) -> list[tuple[str, str]]:
    if not db_path.exists():
        return []
    with duckdb.connect(str(db_path), read_only=True) as con:
        return [(r, s) for r, s in con.execute("SELECT run_id, status FROM runs").fetchall()]


def test_run_traces_into_the_database_and_prints_a_summary(db_path: Path) -> None:
    result = runner.invoke(
        app, ["run", "--config", str(MULTI_STRATEGY), "--bars", "150", "--db", str(db_path)]
    )
    assert result.exit_code == 0, result.output
    [(run_id, status)] = _runs(db_path)
    assert status == "completed"
    assert f"run {run_id}" in result.stdout  # the analysis's summary
    for line in ("events by type", "BAR", "SIGNAL", "ORDER", "FILL", "final equity", "return"):
        assert line in result.stdout
    assert result.stdout.count("events by type") == 1, "the analysis shows them; once is enough"
    assert "600" in result.stdout  # 150 bars x 4 symbols
    assert "chain" in result.stdout.lower()  # the analysis: signal -> fill chains


def test_the_run_summary_writes_counts_with_thousands_separators(db_path: Path) -> None:
    args = ["run", "--config", str(MULTI_STRATEGY), "--bars", "300", "--db", str(db_path)]
    result = runner.invoke(app, [*args, "--quiet"])
    assert result.exit_code == 0, result.output
    with duckdb.connect(str(db_path), read_only=True) as con:
        [(events, bars)] = con.execute(
            "SELECT event_count, count(*) FILTER (WHERE e.event_type = 'BAR') "
            "FROM runs JOIN events AS e USING (run_id) GROUP BY event_count"
        ).fetchall()
    assert events >= 1_000 and bars == 1_200  # 300 bars x 4 symbols
    [(run_id, _)] = _runs(db_path)
    summary = result.stdout.split(f"\nrun {run_id}\n")[1].split("\n\n")[0]  # field | value
    fields = dict(line.split(maxsplit=1) for line in summary.splitlines()[2:] if " " in line)
    assert fields["events"] == f"{events:,}" and fields["bars"] == "1,200"
    assert fields["run_id"] == run_id and fields["handler_errors"] == "0"


def test_run_seed_option_changes_the_run(db_path: Path) -> None:
    args = ["run", "--config", str(MULTI_STRATEGY), "--bars", "100", "--db", str(db_path), "-q"]
    assert runner.invoke(app, [*args, "--seed", "1"]).exit_code == 0
    assert runner.invoke(app, [*args, "--seed", "2"]).exit_code == 0
    with duckdb.connect(str(db_path), read_only=True) as con:
        seeds = con.execute("SELECT config->>'seed' FROM runs ORDER BY started_at").fetchall()
    assert sorted(seed for (seed,) in seeds) == ["1", "2"]


def test_no_trace_writes_nothing(db_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "run",
            "--config",
            str(MULTI_STRATEGY),
            "--bars",
            "100",
            "--db",
            str(db_path),
            "--no-trace",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "untraced" in result.stdout
    assert not db_path.exists()


def test_no_trace_with_sample_is_one_line_not_ignored(db_path: Path) -> None:
    argv = ["run", "-c", str(MULTI_STRATEGY), "--bars", "50", "--db", str(db_path)]
    result = runner.invoke(app, [*argv, "--no-trace", "--sample", "0.5"])
    assert result.exit_code == 1
    assert result.stderr == "error: --sample stores part of a run and --no-trace none: drop one\n"
    assert not db_path.exists()


def test_bad_config_is_one_line_and_leaves_no_run(
    db_path: Path, write_config: Any, config_data: dict[str, Any]
) -> None:
    config_data["strategies"][0]["type"] = "momentum"
    path = write_config(config_data)
    result = runner.invoke(app, ["run", "--config", str(path), "--db", str(db_path)])
    assert result.exit_code == 1
    message = error_message(result.stderr)
    assert message.startswith(f"error: {path}: strategies[0]: unknown strategy type")
    assert _runs(db_path) == []


def test_bad_csv_is_one_line_and_leaves_no_run(
    db_path: Path, write_config: Any, config_data: dict[str, Any], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("date,open,high,low,close,volume\n2024-01-02,1,2,0.5,nan,10\n")
    config_data["data"] = {"source": "csv", "files": {"AAA": "bad.csv"}}
    config_data["strategies"] = [{"type": "breakout"}]
    path = write_config(config_data)
    result = runner.invoke(app, ["run", "--config", str(path), "--db", str(db_path)])
    assert result.exit_code == 1
    assert error_message(result.stderr) == (
        f"error: {bad}, line 2: close is 'nan': fill the gap or drop the row"
    )
    assert _runs(db_path) == []


def test_missing_config_file(db_path: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", "--config", str(tmp_path / "x.yaml"), "--db", str(db_path)])
    assert result.exit_code == 1
    assert "no config file at" in result.stderr


def _one_line(result: Any) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    return error_message(result.stderr)


def test_a_sweep_file_is_not_a_backtest_config(db_path: Path) -> None:
    sweep = REPO / "config" / "sweep_example.yaml"
    args = ["run", "--config", str(sweep), "--bars", "20", "--seed", "1", "--db", str(db_path)]
    assert _one_line(runner.invoke(app, args)) == (
        f"error: {sweep} is a sweep file, not a backtest config: run it with `eventstore sweep "
        f"-c {sweep}`, or see config/multi_strategy_test.yaml for a backtest config"
    )
    assert not db_path.exists()


def test_a_key_given_twice_names_the_key_and_its_lines(
    db_path: Path, write_config: Any, config_data: dict[str, Any]
) -> None:
    path = write_config(config_data)
    lines = path.read_text(encoding="utf-8").splitlines()
    lines.append("seed: 4")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    first = next(n for n, line in enumerate(lines, 1) if line.startswith("seed:"))
    line = _one_line(runner.invoke(app, ["run", "--config", str(path), "--db", str(db_path)]))
    assert line == (
        f"error: {path}, line {len(lines)}: key 'seed' appears twice (first on line {first}): "
        "keep one of them"
    )
    assert not db_path.exists()


def test_a_key_given_twice_in_a_nested_mapping(
    write_config: Any, config_data: dict[str, Any]
) -> None:
    text = yaml.safe_dump(config_data, sort_keys=False)
    path = write_config(
        text.replace("  slippage_bps: 2.0\n", "  slippage_bps: 2.0\n  slippage_bps: 9\n")
    )
    with pytest.raises(ConfigError, match=r"line \d+: key 'slippage_bps' appears twice"):
        load_config(path)


def test_a_directory_is_not_a_config_file(db_path: Path, tmp_path: Path) -> None:
    line = _one_line(runner.invoke(app, ["run", "--config", str(tmp_path), "--db", str(db_path)]))
    assert line == (
        f"error: {tmp_path} is a directory: give a config file (YAML), e.g. "
        "config/multi_strategy_test.yaml"
    )


def test_a_data_file_that_is_a_directory(
    db_path: Path, write_config: Any, config_data: dict[str, Any], tmp_path: Path
) -> None:
    (tmp_path / "data").mkdir()
    config_data["data"] = {"source": "csv", "files": {"AAA": "data"}}
    config_data["strategies"] = [{"type": "breakout"}]
    path = write_config(config_data)
    line = _one_line(runner.invoke(app, ["run", "--config", str(path), "--db", str(db_path)]))
    assert line == (
        f"error: {path}: data.files.AAA: {tmp_path / 'data'} is a directory: give a CSV or "
        "Parquet file of AAA's bars (relative paths are relative to the config file)"
    )


def test_bars_must_be_positive(db_path: Path) -> None:
    result = runner.invoke(app, ["run", "--config", str(MULTI_STRATEGY), "--bars", "0"])
    assert result.exit_code == 2
    assert "--bars" in result.output


def _subprocess(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run from outside the repository: only the installed package is importable."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_main_py_as_a_real_process(tmp_path: Path) -> None:
    db = tmp_path / "runs.duckdb"
    done = _subprocess(
        [sys.executable, str(REPO / "main.py"), "--config", str(MULTI_STRATEGY), "--bars", "50",
         "--db", str(db)],
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    [(run_id, status)] = _runs(db)
    assert status == "completed"
    assert f"correlation_id: {run_id}" in done.stderr  # the log line at start
    assert "alembic" not in done.stderr  # a new store's migrations are not news
    assert f"run {run_id}" in done.stdout  # the summary
    assert "FILL" in done.stdout
    assert "chain" in done.stdout.lower()


def test_eventstore_run_as_a_real_process_fails_cleanly(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nstrategies: [\n")
    done = _subprocess(
        [str(Path(sys.executable).parent / "eventstore"), "run", "--config", str(bad), "--db",
         str(tmp_path / "runs.duckdb")],
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1
    assert " ".join(done.stderr.split()).startswith(f"error: {bad}, line ")  # wrapped
    assert "Traceback" not in done.stderr


CSV_ROWS = [
    ("2024-01-02", "09:30", "10", "11", "9", "10.5", "100"),
    ("2024-01-02", "09:31", "10.5", "11", "10", "10.8", "120"),
    ("2024-01-02", "09:32", "10.8", "11.2", "10.6", "11.0", "90"),
]


@pytest.mark.parametrize(
    ("name", "text"),
    [
        (
            "date and time apart",
            "Date,Time,Open,High,Low,Close,Volume\n"
            + "".join(",".join(row) + "\n" for row in CSV_ROWS),
        ),
        (
            "semicolons",
            "date;open;high;low;close;volume\n"
            + "".join(f"{d} {t};" + ";".join(rest) + "\n" for d, t, *rest in CSV_ROWS),
        ),
        (
            "tabs",
            "datetime\topen\thigh\tlow\tclose\tvolume\n"
            + "".join(f"{d} {t}\t" + "\t".join(rest) + "\n" for d, t, *rest in CSV_ROWS),
        ),
    ],
)
def test_csv_layouts_of_spreadsheets_load(
    db_path: Path,
    write_config: Any,
    config_data: dict[str, Any],
    tmp_path: Path,
    name: str,
    text: str,
) -> None:
    """A Date and a Time column, or semicolons/tabs: the three bars load in time order."""
    (tmp_path / "bars.csv").write_text(text)
    config_data["data"] = {"source": "csv", "files": {"AAA": "bars.csv"}}
    config_data["strategies"] = [{"type": "breakout"}]
    result = runner.invoke(app, ["run", "--config", str(write_config(config_data)), "--db",
                                 str(db_path), "-q"])  # fmt: skip
    assert result.exit_code == 0, result.stderr
    with duckdb.connect(str(db_path), read_only=True) as con:
        times = con.execute("SELECT sim_time FROM events WHERE event_type = 'BAR' ORDER BY seq")
        assert [str(t) for (t,) in times.fetchall()] == [
            "2024-01-02 09:30:00",
            "2024-01-02 09:31:00",
            "2024-01-02 09:32:00",
        ]


def test_a_semicolon_file_with_decimal_commas_says_so(
    db_path: Path, write_config: Any, config_data: dict[str, Any], tmp_path: Path
) -> None:
    (tmp_path / "bars.csv").write_text(
        "date;open;high;low;close;volume\n2024-01-02;10,5;11;9;10;1\n"
    )
    config_data["data"] = {"source": "csv", "files": {"AAA": "bars.csv"}}
    config_data["strategies"] = [{"type": "breakout"}]
    result = runner.invoke(app, ["run", "--config", str(write_config(config_data)), "--db",
                                 str(db_path)])  # fmt: skip
    assert result.exit_code == 1
    assert "'10,5' is not a number: use a decimal point" in result.stderr


def test_a_synthetic_price_that_falls_to_nothing_stays_a_cent(
    db_path: Path, tmp_path: Path
) -> None:
    """A falling random walk rounded opens and closes to 0.00, and the risk manager's sizing
    then died with ZeroDivisionError (a traceback, the run failed): a long sweep hit it.
    Prices stay at least a cent, as lows always did and as data files must."""
    config = yaml.safe_load((REPO / "config" / "trend_following.yaml").read_text())
    config["data"].update(start_price=1.0, annual_drift=-2.0)  # daily bars, falling
    path = tmp_path / "falling.yaml"
    path.write_text(yaml.safe_dump(config))
    result = runner.invoke(app, ["run", "-c", str(path), "--bars", "2000", "--db", str(db_path)])
    assert result.exit_code == 0, result.output
    [(_, status)] = _runs(db_path)
    assert status == "completed"
    with duckdb.connect(str(db_path), read_only=True) as con:
        lowest = con.execute(
            "SELECT min(least(CAST(payload->>'open' AS DOUBLE), "
            "CAST(payload->>'close' AS DOUBLE))) FROM events WHERE event_type = 'BAR'"
        ).fetchone()
    assert lowest == (0.01,)
