"""Config files: the bundled ones load; every kind of mistake is one ConfigError naming the
file, the key and the fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from eventstore import ConfigError
from eventstore.backtest import load_config
from eventstore.backtest.config import CsvData, MovingAverageCrossover

from .conftest import REPO

BACKTEST_CONFIGS = sorted(
    path
    for path in (REPO / "config").glob("*.yaml")
    if not path.name.startswith("sweep")  # sweep files: tests/sweep loads them
)


@pytest.mark.parametrize("path", BACKTEST_CONFIGS, ids=lambda p: p.name)
def test_bundled_configs_load(path: Path) -> None:
    config = load_config(path)
    assert config.name == path.stem
    assert len(config.strategies) >= 2


def test_multi_strategy_config_has_several_strategies_and_symbols() -> None:
    config = load_config(REPO / "config" / "multi_strategy_test.yaml")
    assert {s.type for s in config.strategies} == {
        "moving_average_crossover",
        "mean_reversion",
        "breakout",
    }
    assert len(config.data.symbols) >= 3


def test_overrides_replace_bars_and_seed(write_config: Any, config_data: dict[str, Any]) -> None:
    config = load_config(write_config(config_data), bars=17, seed=99)
    assert (config.bars, config.seed) == (17, 99)


def test_strategy_params_are_typed(write_config: Any, config_data: dict[str, Any]) -> None:
    config_data["strategies"][0]["fast"] = "4"  # YAML quoted number: coerced, still an int
    strategy = load_config(write_config(config_data)).strategies[0]
    assert isinstance(strategy, MovingAverageCrossover)
    assert strategy.fast == 4


def _error(write_config: Any, content: dict[str, Any] | str) -> str:
    path = write_config(content)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert str(path) in message
    return message


def test_unknown_top_level_key(write_config: Any, config_data: dict[str, Any]) -> None:
    config_data["initial_csh"] = 5
    message = _error(write_config, config_data)
    assert "unknown key 'initial_csh'" in message
    assert "did you mean 'initial_cash'?" in message


def test_unknown_nested_key_is_named_with_its_path(
    write_config: Any, config_data: dict[str, Any]
) -> None:
    config_data["strategies"][1]["windw"] = 5
    message = _error(write_config, config_data)
    assert "unknown key 'strategies[1].windw'" in message
    assert "did you mean 'window'?" in message


def test_a_key_of_another_section_is_not_suggested_as_its_own_fix(
    write_config: Any, config_data: dict[str, Any]
) -> None:
    """``symbols`` kept from a synthetic config beside ``files``: not "did you mean
    'symbols'?", which names the very key it rejects."""
    config_data["data"] = {"source": "csv", "symbols": ["AAA"], "files": {"AAA": "a.csv"}}
    message = _error(write_config, config_data)
    assert message.endswith(
        "unknown key 'data.symbols': 'symbols' is not a setting here: remove it"
    )


def test_wrong_type(write_config: Any, config_data: dict[str, Any]) -> None:
    config_data["risk"]["max_position"] = "a lot"
    message = _error(write_config, config_data)
    assert "risk.max_position" in message
    assert "'a lot'" in message
    assert "fix this value" in message


def test_unknown_strategy_type_lists_the_known_ones(
    write_config: Any, config_data: dict[str, Any]
) -> None:
    config_data["strategies"][2]["type"] = "momentum"
    message = _error(write_config, config_data)
    assert "strategies[2]: unknown strategy type 'momentum'" in message
    assert "'moving_average_crossover', 'mean_reversion', 'breakout'" in message


def test_unknown_data_source(write_config: Any, config_data: dict[str, Any]) -> None:
    config_data["data"]["source"] = "bloomberg"
    message = _error(write_config, config_data)
    assert "unknown data source 'bloomberg'" in message


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("strategies", 0, "fast", 30), "fast (30) must be smaller than slow (8)"),
        (("strategies", 1, "exit_z", 3.0), "exit_z (3.0) must be smaller than entry_z (1.5)"),
        (("initial_cash", None, None, -5), "initial_cash: Input should be greater than 0"),
        (("bars", None, None, 0), "bars: Input should be greater than or equal to 1"),
        (("seed", None, None, -1), "seed: Input should be greater than or equal to 0"),
        (("risk", None, "position_size", 2), "risk.position_size: Input should be less than"),
        (("initial_cash", None, None, float("nan")), "initial_cash: Input should be a finite"),
    ],
)
def test_impossible_values(
    write_config: Any, config_data: dict[str, Any], change: tuple[Any, ...], expected: str
) -> None:
    key, index, field, value = change
    target = config_data[key] if index is None else config_data[key][index]
    if field is None:
        config_data[key] = value
    else:
        target[field] = value
    assert expected in _error(write_config, config_data)


def test_strategy_on_a_symbol_the_data_lacks(
    write_config: Any, config_data: dict[str, Any]
) -> None:
    config_data["strategies"][2]["symbols"] = ["AAA", "ZZZ"]
    message = _error(write_config, config_data)
    assert "strategies[2].symbols: 'ZZZ' is not in the data" in message


def test_two_strategies_with_the_same_name(write_config: Any, config_data: dict[str, Any]) -> None:
    config_data["strategies"].append({"type": "breakout", "window": 5})
    message = _error(write_config, config_data)
    assert "'breakout' appears twice in strategy names" in message


def test_missing_required_key(write_config: Any, config_data: dict[str, Any]) -> None:
    del config_data["strategies"]
    assert "missing key 'strategies': add it" in _error(write_config, config_data)


def test_malformed_yaml_names_the_line(write_config: Any) -> None:
    message = _error(write_config, "name: x\nstrategies: [a, b\nrisk: {}\n")
    assert "not valid YAML" in message
    assert "line " in message


def test_yaml_that_is_not_a_mapping(write_config: Any) -> None:
    assert "must be a mapping" in _error(write_config, "- just\n- a list\n")


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no config file at .*nope\.yaml: check the path"):
        load_config(tmp_path / "nope.yaml")


def test_csv_paths_are_relative_to_the_config(
    write_config: Any, config_data: dict[str, Any], csv_files: dict[str, Path]
) -> None:
    config_data["data"] = {"source": "csv", "files": {s: p.name for s, p in csv_files.items()}}
    config_data["strategies"][2]["symbols"] = ["XXX"]
    data = load_config(write_config(config_data)).data
    assert isinstance(data, CsvData)
    assert data.files == csv_files


def test_missing_csv_file(write_config: Any, config_data: dict[str, Any]) -> None:
    config_data["data"] = {"source": "csv", "files": {"AAA": "missing.csv"}}
    config_data["strategies"] = [{"type": "breakout"}]
    message = _error(write_config, config_data)
    assert "data.files.AAA: no data file at" in message
    assert "missing.csv" in message


def test_missing_strategy_type_lists_the_choices(
    write_config: Any, config_data: dict[str, Any]
) -> None:
    del config_data["strategies"][0]["type"]
    message = _error(write_config, config_data)
    assert "strategies[0]: missing key 'type': add it ('moving_average_crossover'," in message
