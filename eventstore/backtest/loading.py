"""Reading a backtest config file: YAML in, a validated ``BacktestConfig`` out, or one
``ConfigError`` that names the file, the key and the fix.

pydantic's own messages name the key but not the file, and say what is wrong but not what to do;
this module turns each validation error into a sentence a user can act on.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import BaseModel, ValidationError

from eventstore.backtest.config import (
    BacktestConfig,
    Breakout,
    CsvData,
    ExecutionConfig,
    MeanReversion,
    MovingAverageCrossover,
    RiskConfig,
    StrategyType,
    SyntheticData,
)
from eventstore.errors import ConfigError

_MODELS: tuple[type[BaseModel], ...] = (
    BacktestConfig,
    SyntheticData,
    CsvData,
    MovingAverageCrossover,
    MeanReversion,
    Breakout,
    RiskConfig,
    ExecutionConfig,
)
_KNOWN_KEYS = sorted({name for model in _MODELS for name in model.model_fields})


def load_config(
    path: str | os.PathLike[str], *, bars: int | None = None, seed: int | None = None
) -> BacktestConfig:
    """Read and validate the config at ``path``; ``bars`` and ``seed`` override the file's."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"no config file at {source}: check the path") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config {source}: {exc}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(
            f"{source}{where}: not valid YAML ({problem}): fix the syntax there"
        ) from None
    if bars is not None and isinstance(raw, dict):
        raw["bars"] = bars
    if seed is not None and isinstance(raw, dict):
        raw["seed"] = seed
    return validate_config(raw, source)


def validate_config(raw: object, source: Path) -> BacktestConfig:
    """A config read from ``source`` (a file, or the file that holds it inline) as a
    validated ``BacktestConfig``, CSV paths resolved relative to ``source``'s directory."""
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{source}: the config must be a mapping of keys (name, data, strategies, ...), "
            f"not {type(raw).__name__}: see config/multi_strategy_test.yaml for an example"
        )
    try:
        config = BacktestConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(describe_errors(exc, source)) from None
    return _resolve_files(config, source)


def describe_errors(exc: ValidationError, source: Path) -> str:
    """``file: key: problem: fix`` (several problems joined by ``; ``)."""
    problems = [_describe(error) for error in exc.errors(include_url=False)]
    count = f"{len(problems)} problems: " if len(problems) > 1 else ""
    return f"{source}: {count}{'; '.join(problems)}"


def _describe(error: Any) -> str:
    loc = tuple(error.get("loc", ()))
    kind = error.get("type", "")
    key = _key(loc)
    value = error.get("input")
    if kind == "extra_forbidden":
        name = str(loc[-1]) if loc else "?"
        close = difflib.get_close_matches(name, _KNOWN_KEYS, n=1)
        fix = f"did you mean {close[0]!r}?" if close else "remove it"
        return f"unknown key {key!r}: {fix}"
    if kind == "missing":
        return f"missing key {key!r}: add it"
    if kind == "union_tag_invalid":
        ctx = error.get("ctx", {})
        tag, expected = ctx.get("tag", "?"), ctx.get("expected_tags", "")
        return f"{key}: unknown {_tag_name(loc)} {tag!r}: use one of {expected}"
    if kind == "union_tag_not_found":
        tag = str(error.get("ctx", {}).get("discriminator", "?")).strip("'")
        choices = ", ".join(repr(t) for t in _TAG_CHOICES.get(tag, ()))
        return f"{key}: missing key {tag!r}: add it ({choices})"
    if kind == "value_error":
        message = str(error.get("msg", "")).removeprefix("Value error, ")
        return f"{key}: {message}" if key else message  # a whole-config check names its keys
    message = str(error.get("msg", "invalid value"))
    shown = repr(value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return f"{key}: {message}, got {shown}: fix this value"


def _tag_name(loc: Iterable[Any]) -> str:
    return "data source" if "data" in tuple(loc) else "strategy type"


def _key(loc: tuple[Any, ...]) -> str:
    """A dotted key such as ``strategies[1].fast``, leaving out pydantic's union tags."""
    parts: list[str] = []
    for index, part in enumerate(loc):
        if isinstance(part, int):
            parts.append(f"[{part}]")
            continue
        name = str(part)
        # A discriminated union adds the tag ("breakout") as a location step after the field.
        previous = loc[index - 1] if index else None
        if (
            previous is not None
            and (isinstance(previous, int) or previous == "data")
            and name in _TAGS
        ):
            continue
        parts.append(f".{name}" if parts else name)
    return "".join(parts)


_TAG_CHOICES: dict[str, tuple[str, ...]] = {
    "source": ("synthetic", "csv", "parquet"),
    "type": get_args(StrategyType),
}
_TAGS = {tag for tags in _TAG_CHOICES.values() for tag in tags}


def _resolve_files(config: BacktestConfig, source: Path) -> BacktestConfig:
    """Make data file paths relative to the config's directory, and check that each exists."""
    data = config.data
    if not isinstance(data, CsvData):
        return config
    files: dict[str, Path] = {}
    for symbol, file in data.files.items():
        path = file if file.is_absolute() else source.parent / file
        if not path.is_file():
            raise ConfigError(
                f"{source}: data.files.{symbol}: no data file at {path}: fix the path "
                "(relative paths are relative to the config file)"
            )
        files[symbol] = path
    return config.model_copy(update={"data": data.model_copy(update={"files": files})})
