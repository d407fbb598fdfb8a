"""A sweep file: a base backtest config and a grid of values, read into one validated
``BacktestConfig`` per grid point, or one ``ConfigError`` naming the file, the key and the fix.

The shape (``config/sweep_example.yaml``)::

    name: trend_sweep                       # optional; default: the base config's name
    backtest: trend_following.yaml          # a config file (relative to this one), or inline
    grid:                                   # every combination is one run
      strategies.ma_10_50.fast: [5, 10]     # strategies.<name or type>.<setting>
      seed: [1, 2]                          # any setting by its dotted key: bars, risk.…
      symbols: [[AAPL], [MSFT]]             # the symbols the data holds (and so traded)

Grid keys are checked against the base config's settings before any point is built, so a typo
is one error naming the key; each point is then validated like a config file, so a value that
can't make a backtest (a fast window not below the slow one) names its point.
"""

from __future__ import annotations

import copy
import difflib
import itertools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from eventstore.backtest.config import BacktestConfig, CsvData
from eventstore.backtest.loading import (
    describe_errors,
    file_kind,
    load_config,
    read_yaml,
    validate_config,
)
from eventstore.errors import ConfigError

SYMBOLS_KEY = "symbols"
"""The grid key that picks the data's symbols (synthetic symbols, or which CSV files)."""


class SweepFile(BaseModel):
    """The sweep file's own keys: everything else about a run is in ``backtest``."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: str | None = Field(default=None, min_length=1)
    backtest: str | dict[str, Any]
    grid: dict[str, list[Any]] = Field(min_length=1)


@dataclass(frozen=True)
class GridPoint:
    """One run of a sweep: its position in the grid, the values it takes and its config."""

    index: int
    params: dict[str, Any]
    """Grid key → value, for every key of the grid (in the file's order)."""
    config: BacktestConfig


@dataclass(frozen=True)
class Sweep:
    name: str
    source: Path
    points: list[GridPoint]
    labels: dict[str, str]
    """Grid key → the short label runs and tables show for it (``fast`` for
    ``strategies.ma.fast``), for the keys that take more than one value."""

    def describe(self, point: GridPoint) -> str:
        """``fast=5 seed=1 symbols=AAPL``: the point's values of the keys that vary."""
        return " ".join(
            f"{label}={format_value(point.params[key])}" for key, label in self.labels.items()
        )


def format_value(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ",".join(format_value(v) for v in value)
    return str(value)


def load_sweep(path: str | os.PathLike[str]) -> Sweep:
    """Read the sweep file at ``path``: its base config and one config per grid point."""
    source = Path(path)
    spec = _read_spec(source)
    base = _read_base(spec.backtest, source)
    for key, values in spec.grid.items():
        _check_key(key, base, source)
        if not values:
            raise ConfigError(f"{source}: grid.{key}: no values: give at least one")
        repeated = _first_repeated(values)
        if repeated is not None:  # the same runs twice, under one name: surely a typo
            raise ConfigError(
                f"{source}: grid.{key} lists {format_value(repeated)} twice: give each value "
                "once (runs with equal configs give equal results)"
            )
    name = spec.name or base.name
    keys = list(spec.grid)
    varying = [key for key in keys if len(spec.grid[key]) > 1]
    labels = _labels(varying)
    raw_base = base.model_dump(mode="json")
    points: list[GridPoint] = []
    sweep = Sweep(name, source, points, labels)
    for index, combination in enumerate(itertools.product(*spec.grid.values())):
        params = dict(zip(keys, combination, strict=True))
        raw = _apply(raw_base, params, base, source)
        probe = GridPoint(index, params, base)
        raw["name"] = f"{name} {sweep.describe(probe)}".strip()
        try:
            config = BacktestConfig.model_validate(raw)
        except ValidationError as exc:
            shown = ", ".join(f"{k}={format_value(v)}" for k, v in params.items())
            raise ConfigError(
                f"{describe_errors(exc, source)} (grid point {index + 1}: {shown}): change "
                "the grid's values so every combination is a valid backtest"
            ) from None
        points.append(GridPoint(index, params, config))
    return sweep


def _first_repeated(values: list[Any]) -> Any:
    """The first value of ``values`` equal to an earlier one (1 and 1.0 are one setting),
    or None. Grids are short: a scan of the values before each one will do."""
    for index, value in enumerate(values):
        if value in values[:index]:
            return value
    return None


def _read_spec(source: Path) -> SweepFile:
    raw = read_yaml(source, "sweep file", "config/sweep_example.yaml")
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{source}: a sweep file is a mapping with keys backtest and grid (and optionally "
            "name): see config/sweep_example.yaml"
        )
    if file_kind(raw) == "backtest":
        raise ConfigError(
            f"{source} is a backtest config, not a sweep file: run it with `eventstore run "
            f"-c {source}`, or see config/sweep_example.yaml for a sweep"
        )
    try:
        return SweepFile.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {_describe_spec_errors(exc)}") from None


def _describe_spec_errors(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors(include_url=False):
        loc = [str(part) for part in error.get("loc", ())]
        key = ".".join(loc[:2] if loc[:1] == ["backtest"] else loc) or "sweep"
        kind = error.get("type", "")
        if kind == "extra_forbidden":
            close = difflib.get_close_matches(loc[-1], list(SweepFile.model_fields), n=1)
            fix = f"did you mean {close[0]!r}?" if close else "use name, backtest and grid"
            problems.append(f"unknown key {key!r}: {fix}")
        elif kind == "missing":
            problems.append(f"missing key {key!r}: add it")
        elif loc[:1] == ["grid"] and len(loc) > 1:
            problems.append(f"{key}: give a list of values, e.g. [5, 10]")
        elif loc == ["grid"]:
            problems.append(
                "grid: give each setting to vary and its list of values, e.g. "
                "`grid: {seed: [1, 2]}` (see config/sweep_example.yaml)"
            )
        elif loc == ["name"]:
            problems.append("name: give the sweep's name as text, e.g. name: trend_sweep")
        elif loc[:1] == ["backtest"]:
            problems.append("backtest: give a config file's path or the config inline")
            break
        else:
            problems.append(f"{key}: {error.get('msg', 'invalid value')}")
    return "; ".join(dict.fromkeys(problems))


def _read_base(backtest: str | dict[str, Any], source: Path) -> BacktestConfig:
    """The base config, inline or from its file; a path that leads nowhere is an error naming
    the sweep file, the path looked at and what a relative path is read from."""
    if isinstance(backtest, dict):
        return validate_config(backtest, source)
    path = Path(backtest)
    given = path if path.is_absolute() else source.parent / path
    if given.is_dir():
        raise ConfigError(
            f"{source}: backtest: {os.path.abspath(given)} is a directory: give a config "
            "file's path (relative to the sweep file's folder), or put the config itself under "
            "`backtest:`"
        )
    if not given.exists():
        relative = "" if path.is_absolute() else f" ({path}, relative to the sweep file's folder)"
        raise ConfigError(
            f"{source}: backtest: no config file at {os.path.abspath(given)}{relative}: fix "
            "the path, or put the config itself under `backtest:`"
        )
    return load_config(given)


def _check_key(key: str, base: BacktestConfig, source: Path) -> None:
    """A grid key must name a setting of the base config: ``symbols``, a dotted path of
    settings, or ``strategies.<name or type>.<setting>``."""
    if key == SYMBOLS_KEY:
        return
    if key == "name":
        raise ConfigError(
            f"{source}: grid key 'name': run names are made from the sweep's name and each "
            "point's values: set `name:` at the top of the sweep file instead"
        )
    node: Any = base
    parts = key.split(".")
    walked: list[str] = []
    while parts:
        part = parts.pop(0)
        if isinstance(node, BacktestConfig) and part == "strategies":
            label = parts.pop(0) if parts else ""
            match = [s for s in base.strategies if s.label == label]
            if not match:
                labels = ", ".join(s.label for s in base.strategies)
                raise ConfigError(
                    f"{source}: grid key {key!r}: no strategy {label!r} in the backtest "
                    f"(strategies: {labels}): write strategies.<name or type>.<setting>"
                )
            node, walked = match[0], [*walked, part, label]
            if not parts:
                raise ConfigError(
                    f"{source}: grid key {key!r}: name a setting of the strategy, e.g. "
                    f"{key}.{next(iter(_settings(node)), 'window')}"
                )
            continue
        if not isinstance(node, BaseModel):
            setting = ".".join(walked)
            raise ConfigError(
                f"{source}: unknown grid key {key!r}: {setting} is one setting, with no "
                f"settings of its own: write {setting!r}"
            )
        settings = _settings(node)
        if part not in settings:
            where = ".".join(walked) or "the backtest config"
            close = difflib.get_close_matches(part, settings, n=1)
            fix = f"did you mean {'.'.join([*walked, close[0]])!r}?" if close else ""
            known = f"settings of {where}: {', '.join(settings)}"
            raise ConfigError(
                f"{source}: unknown grid key {key!r}: {part!r} is not a setting of {where}"
                f" ({fix or known})"
            )
        node, walked = getattr(node, part), [*walked, part]


def _settings(model: BaseModel) -> list[str]:
    return [name for name in type(model).model_fields if name not in ("name", "type", "source")]


def _apply(
    raw_base: dict[str, Any], params: dict[str, Any], base: BacktestConfig, source: Path
) -> dict[str, Any]:
    """The base config's data with the point's values set."""
    raw = copy.deepcopy(raw_base)
    for key, value in params.items():
        if key == SYMBOLS_KEY:
            _set_symbols(raw, value, base, source)
            continue
        parts = key.split(".")
        node = raw
        while len(parts) > 1:
            part = parts.pop(0)
            if part == "strategies" and node is raw:
                label = parts.pop(0)
                index = [s.label for s in base.strategies].index(label)
                node = node["strategies"][index]
            else:
                node = node.setdefault(part, {})
        node[parts[0]] = value
    return raw


def _set_symbols(raw: dict[str, Any], symbols: Any, base: BacktestConfig, source: Path) -> None:
    """Synthetic data makes bars for any symbol; CSV data keeps the files of those chosen."""
    chosen = [symbols] if isinstance(symbols, str) else symbols
    if not isinstance(base.data, CsvData):
        raw["data"]["symbols"] = chosen
        return
    files = raw["data"]["files"]
    missing = [s for s in chosen if s not in files] if isinstance(chosen, list) else []
    if missing:
        raise ConfigError(
            f"{source}: grid.symbols: no CSV file for {', '.join(map(str, missing))} in the "
            f"backtest's data (files for: {', '.join(files)}): add one there or drop the symbol"
        )
    raw["data"]["files"] = {s: files[s] for s in chosen} if isinstance(chosen, list) else chosen


def _labels(keys: list[str]) -> dict[str, str]:
    """Each key's last part, or the whole key where two keys share a last part."""
    lasts = [key.rsplit(".", 1)[-1] for key in keys]
    return {
        key: last if lasts.count(last) == 1 else key for key, last in zip(keys, lasts, strict=True)
    }
