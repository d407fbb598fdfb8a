"""Reading a sweep file: the grid expands to one validated config per point, and every bad
input (the file, the database, the scheduler) is one error naming the problem and the fix (one
line from the CLI), before any run starts."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from eventstore.cli import app
from eventstore.errors import ConfigError, StoreError
from eventstore.sweep import executors, load_sweep, run_sweep
from tests.cli.conftest import error_message

from .conftest import SWEEP

runner = CliRunner()
REPO = Path(__file__).resolve().parents[2]
EVENTSTORE = str(Path(sys.executable).parent / "eventstore")


def _write(tmp_path: Path, change: dict[str, Any]) -> Path:
    data = copy.deepcopy(SWEEP)
    for key, value in change.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    path = tmp_path / "bad_sweep.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def test_the_grid_expands_to_every_combination(sweep_file: Path) -> None:
    sweep = load_sweep(sweep_file)
    assert len(sweep.points) == 8
    point = sweep.points[3]
    assert point.params == {
        "strategies.moving_average_crossover.fast": 2,
        "seed": 2,
        "symbols": ["AAA", "BBB"],
    }
    assert point.config.name == "sweep_test fast=2 seed=2 symbols=AAA,BBB"
    assert point.config.seed == 2
    assert point.config.data.symbols == ["AAA", "BBB"]
    assert point.config.strategies[0].fast == 2  # type: ignore[union-attr]
    assert point.config.strategies[1].window == 10  # type: ignore[union-attr]


def test_the_example_sweep_file_loads() -> None:
    sweep = load_sweep(REPO / "config" / "sweep_example.yaml")
    assert len(sweep.points) == 8
    assert {point.config.bars for point in sweep.points} == {400}
    assert "bars" not in sweep.labels.values()  # one value: not a column


@pytest.mark.parametrize(
    ("grid", "expected"),
    [
        ({"strategies.moving_average_crossover.fsat": [2]}, "did you mean"),
        ({"risk.position_sise": [0.1]}, "'risk.position_size'"),
        ({"sede": [1]}, "'seed'"),
        ({"strategies.ma.fast": [2]}, "no strategy 'ma'"),
    ],
)
def test_an_unknown_grid_key_names_the_key_and_the_file(
    tmp_path: Path, grid: dict[str, Any], expected: str
) -> None:
    path = _write(tmp_path, {"grid": grid})
    with pytest.raises(ConfigError) as raised:
        load_sweep(path)
    message = str(raised.value)
    assert str(path) in message
    assert repr(next(iter(grid))) in message
    assert expected in message


def test_an_unknown_top_level_key_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path, {"grd": {"seed": [1]}, "grid": None})
    with pytest.raises(ConfigError, match=r"unknown key 'grd': did you mean 'grid'\?"):
        load_sweep(path)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"grid": {}}, "grid: give each setting to vary and its list of values, e.g. "),
        ({"grid": [1, 2]}, "grid: give each setting to vary and its list of values, e.g. "),
        ({"name": 5}, "name: give the sweep's name as text, e.g. name: trend_sweep"),
        ({"name": ""}, "name: give the sweep's name as text, e.g. name: trend_sweep"),
        (
            {"grid": {"risk.position_size.x": [1]}},
            "unknown grid key 'risk.position_size.x': risk.position_size is one setting, with "
            "no settings of its own: write 'risk.position_size'",
        ),
    ],
)
def test_a_grid_or_name_of_the_wrong_shape_names_the_fix(
    tmp_path: Path, change: dict[str, Any], expected: str
) -> None:
    path = _write(tmp_path, change)
    with pytest.raises(ConfigError) as raised:
        load_sweep(path)
    assert str(raised.value).startswith(f"{path}: ")
    assert expected in str(raised.value)
    assert "validation" not in str(raised.value) and "()" not in str(raised.value)


def test_a_base_config_that_is_a_directory_names_the_sweep_file(tmp_path: Path) -> None:
    path = _write(tmp_path, {"backtest": "."})
    with pytest.raises(ConfigError) as raised:
        load_sweep(path)
    assert str(raised.value).startswith(f"{path}: backtest: {tmp_path} is a directory: ")


def test_a_value_that_makes_no_backtest_names_its_point(tmp_path: Path) -> None:
    path = _write(tmp_path, {"grid": {"strategies.moving_average_crossover.fast": [2, 9]}})
    with pytest.raises(ConfigError) as raised:
        load_sweep(path)
    assert "fast (9) must be smaller than slow (8)" in str(raised.value)
    assert "grid point 2: strategies.moving_average_crossover.fast=9" in str(raised.value)


@pytest.mark.parametrize("values", [[1, 2, 1], [1, 1.0]])
def test_a_value_listed_twice_is_an_error_not_a_run_twice(
    tmp_path: Path, values: list[Any]
) -> None:
    path = _write(tmp_path, {"grid": {"seed": values}})
    with pytest.raises(ConfigError, match=r"grid\.seed lists 1(\.0)? twice: give each value once"):
        load_sweep(path)


def test_a_bad_base_config_names_the_sweep_file(tmp_path: Path) -> None:
    backtest = copy.deepcopy(SWEEP["backtest"])
    backtest["risk"] = {"position_sise": 0.1}
    path = _write(tmp_path, {"backtest": backtest})
    with pytest.raises(ConfigError, match=r"bad_sweep.yaml: unknown key 'risk.position_sise'"):
        load_sweep(path)


def test_cli_bad_grid_key_is_one_line_and_no_run(tmp_path: Path) -> None:
    path = _write(tmp_path, {"grid": {"seed": [1], "strategies.channel.widnow": [5]}})
    db = tmp_path / "runs.duckdb"
    result = runner.invoke(app, ["sweep", "-c", str(path), "--db", str(db), "-q"])
    assert result.exit_code == 1
    line = error_message(result.output)
    assert str(path) in line
    assert "'strategies.channel.widnow'" in line and "'strategies.channel.window'" in line
    assert not db.exists()


def test_cli_unknown_sort_key_fails_before_any_run(sweep_file: Path, tmp_path: Path) -> None:
    db = tmp_path / "runs.duckdb"
    args = ["sweep", "-c", str(sweep_file), "--db", str(db), "--sort-by", "sharpe", "-q"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert "--sort-by 'sharpe': use one of return, trades, events, status, fast" in result.output
    assert not db.exists()


def test_cli_unreachable_server_is_one_clear_line(sweep_file: Path) -> None:
    url = "postgresql+psycopg://nobody@127.0.0.1:1/nowhere"
    result = runner.invoke(app, ["sweep", "-c", str(sweep_file), "--db", url, "-q"])
    assert result.exit_code == 1
    assert "127.0.0.1:1" in error_message(result.output)


def _one_line(result: Any) -> str:
    assert result.exit_code == 1, result.output
    return error_message(result.output)


def test_a_backtest_config_is_not_a_sweep_file(tmp_path: Path) -> None:
    config = REPO / "config" / "multi_strategy_test.yaml"
    db = tmp_path / "runs.duckdb"
    line = _one_line(runner.invoke(app, ["sweep", "-c", str(config), "--db", str(db), "-q"]))
    assert line == (
        f"error: {config} is a backtest config, not a sweep file: run it with `eventstore run "
        f"-c {config}`, or see config/sweep_example.yaml for a sweep"
    )
    assert not db.exists()


@pytest.mark.parametrize("base", ["trend.yaml", "../configs/trend.yaml", "{tmp}/trend.yaml"])
def test_a_missing_base_config_names_the_sweep_file_and_where_it_looked(
    tmp_path: Path, base: str
) -> None:
    """A relative base path is read from the sweep file's folder, not the working directory:
    the error says so, with the sweep file as given and the path looked at in full."""
    folder = tmp_path / "sweeps"
    folder.mkdir()
    given = base.format(tmp=tmp_path)
    sweep = {**SWEEP, "backtest": given}
    (folder / "grid.yaml").write_text(yaml.safe_dump(sweep, sort_keys=False), encoding="utf-8")
    done = subprocess.run(
        [EVENTSTORE, "sweep", "-c", "sweeps/grid.yaml", "-q"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "COLUMNS": "80"},
        check=False,
    )
    assert done.returncode == 1 and done.stdout == ""
    looked = os.path.normpath(folder / given)  # as `given` when it is absolute
    relative = "" if given.startswith("/") else f" ({given}, relative to the sweep file's folder)"
    assert error_message(done.stderr, width=80) == (
        f"error: sweeps/grid.yaml: backtest: no config file at {looked}{relative}: fix the "
        "path, or put the config itself under `backtest:`"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sweeps"]  # no database made


def test_a_key_given_twice_names_the_key_and_its_lines(tmp_path: Path) -> None:
    path = tmp_path / "twice.yaml"
    text = yaml.safe_dump(SWEEP, sort_keys=False)
    path.write_text(text.replace("  seed:\n", "  seed: [7]\n  seed:\n"), encoding="utf-8")
    lines = path.read_text(encoding="utf-8").splitlines()
    first, again = [n for n, line in enumerate(lines, 1) if line.startswith("  seed:")]
    with pytest.raises(ConfigError) as raised:
        load_sweep(path)
    assert str(raised.value) == (
        f"{path}, line {again}: key 'seed' appears twice (first on line {first}): keep one of them"
    )


def test_yaml_merge_keys_may_still_be_overridden(tmp_path: Path) -> None:
    path = tmp_path / "merged.yaml"
    text = yaml.safe_dump(SWEEP, sort_keys=False).replace("grid:\n", "grid: &g\n")
    text += "again:\n  <<: *g\n  seed: [5]\n"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"unknown key 'again'"):  # parsed; then validated
        load_sweep(path)


def test_a_directory_is_not_a_sweep_file(tmp_path: Path) -> None:
    line = _one_line(runner.invoke(app, ["sweep", "-c", str(tmp_path), "-q"]))
    assert line == (
        f"error: {tmp_path} is a directory: give a sweep file (YAML), e.g. "
        "config/sweep_example.yaml"
    )


def test_a_parquet_dataset_is_refused_before_any_run(
    sweep_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = REPO / "config" / "multi_strategy_test.yaml"
    made = runner.invoke(app, ["run", "-c", str(config), "--bars", "30", "--db", "s.duckdb", "-q"])
    assert made.exit_code == 0, made.output
    assert (
        runner.invoke(app, ["export", "--all", "--parquet", "lake", "--db", "s.duckdb"]).exit_code
        == 0
    )
    files = sorted(Path("lake").rglob("*"))
    expected = (
        "lake is a Parquet dataset, which is read-only: trace into a DuckDB file (--db "
        "runs.duckdb), or import the dataset into one first (eventstore import lake --db "
        "runs.duckdb)"
    )
    line = _one_line(runner.invoke(app, ["sweep", "-c", str(sweep_file), "--db", "lake", "-q"]))
    assert line == f"error: {expected}"
    with pytest.raises(StoreError) as raised:
        run_sweep(sweep_file, workers=1, db="lake")
    assert str(raised.value) == expected
    assert sorted(Path("lake").rglob("*")) == files
    assert not Path("lake.sweep").exists()


def test_cli_unreachable_scheduler_is_one_clear_line(
    sweep_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A closed local port: Dask retries until its timeout, so the test shortens it."""
    monkeypatch.setattr(executors, "SCHEDULER_TIMEOUT", 0.5)
    db = tmp_path / "runs.duckdb"
    address = "tcp://127.0.0.1:1"
    args = ["sweep", "-c", str(sweep_file), "--executor", "dask", "--scheduler", address]
    line = _one_line(runner.invoke(app, [*args, "--db", str(db), "-q"]))
    assert line == (
        f"error: cannot reach the Dask scheduler at {address} (Connection refused; gave up "
        "after 0.5 s): check --scheduler, or leave it out to start a local cluster"
    )


def test_sweep_help_states_the_scheduler_timeout() -> None:
    result = runner.invoke(app, ["sweep", "--help"])
    text = " ".join(result.output.replace("│", " ").split())
    assert f"one that can't be reached fails after {executors.SCHEDULER_TIMEOUT:g} s" in text


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"workers": "2"}, r"workers must be a whole number of at least 1, got '2'"),
        ({"workers": 0}, r"workers must be a whole number of at least 1, got 0"),
        ({"executor": "threads"}, r"unknown executor 'threads': use one of local, dask"),
    ],
)
def test_bad_options_fail_before_the_database_is_created(
    sweep_file: Path, tmp_path: Path, options: dict[str, Any], message: str
) -> None:
    db = tmp_path / "sweep.duckdb"
    with pytest.raises(ConfigError, match=message):
        run_sweep(sweep_file, db=db, **options)
    assert not db.exists()


def test_a_sweep_file_that_is_not_a_path_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config_path must be the path of a sweep file, got"):
        run_sweep(SWEEP, db=tmp_path / "sweep.duckdb")  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []
