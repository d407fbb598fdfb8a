"""Reading a sweep file: the grid expands to one validated config per point, and every bad
input is one ``ConfigError`` naming the file, the key and the fix (one line from the CLI)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from eventstore.cli import app
from eventstore.errors import ConfigError
from eventstore.sweep import load_sweep

from .conftest import SWEEP

runner = CliRunner()
REPO = Path(__file__).resolve().parents[2]


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


def test_a_value_that_makes_no_backtest_names_its_point(tmp_path: Path) -> None:
    path = _write(tmp_path, {"grid": {"strategies.moving_average_crossover.fast": [2, 9]}})
    with pytest.raises(ConfigError) as raised:
        load_sweep(path)
    assert "fast (9) must be smaller than slow (8)" in str(raised.value)
    assert "grid point 2: strategies.moving_average_crossover.fast=9" in str(raised.value)


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
    [line] = result.output.strip().splitlines()
    assert line.startswith("error: ") and str(path) in line
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
    [line] = result.output.strip().splitlines()
    assert line.startswith("error: ") and "127.0.0.1:1" in line
