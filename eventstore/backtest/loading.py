"""Reading a backtest config file: YAML in, a validated ``BacktestConfig`` out, or one
``ConfigError`` that names the file, the key and the fix.

pydantic's own messages name the key but not the file, and say what is wrong but not what to do;
this module turns each validation error into a sentence a user can act on. It also reads the
YAML of sweep files (``read_yaml``), so both kinds of file reject a key given twice alike.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal, get_args

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
    raw = read_yaml(source, "config file", "config/multi_strategy_test.yaml")
    if isinstance(raw, dict) and file_kind(raw) == "sweep":
        raise ConfigError(
            f"{source} is a sweep file, not a backtest config: run it with `eventstore sweep "
            f"-c {source}`, or see config/multi_strategy_test.yaml for a backtest config"
        )
    if bars is not None and isinstance(raw, dict):
        raw["bars"] = bars
    if seed is not None and isinstance(raw, dict):
        raw["seed"] = seed
    return validate_config(raw, source)


def read_yaml(source: Path, kind: str, example: str) -> Any:
    """The YAML document in the ``kind`` file at ``source`` (a backtest config or a sweep
    file), or a ``ConfigError`` naming the problem: a missing path, a directory, unreadable
    bytes, bad syntax or a key given twice (with its line)."""
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"no {kind} at {source}: check the path") from None
    except IsADirectoryError:
        raise ConfigError(
            f"{source} is a directory: give a {kind} (YAML), e.g. {example}"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {kind} {source}: {exc}") from None
    try:
        return yaml.load(text, Loader=UniqueKeyLoader)  # a SafeLoader: safe
    except DuplicateKeyError as exc:
        raise ConfigError(f"{source}, {exc}: keep one of them") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(
            f"{source}{where}: not valid YAML ({problem}): fix the syntax there"
        ) from None


class DuplicateKeyError(yaml.YAMLError):
    """A mapping gives one key twice."""

    def __init__(self, key: object, first: yaml.Mark, again: yaml.Mark) -> None:
        super().__init__(
            f"line {again.line + 1}: key {key!r} appears twice (first on line {first.line + 1})"
        )


class UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a key given twice in one mapping is an error: PyYAML
    keeps the last value without a word, so a config with ``seed:`` twice would run with a
    seed its reader may not have seen. Keys a merge (``<<: *base``) brings in may be
    overridden, as YAML intends."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first: dict[object, yaml.Mark] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                if key in first:
                    raise DuplicateKeyError(key, first[key], key_node.start_mark)
                first[key] = key_node.start_mark
            except TypeError:  # an unhashable key: the safe loader's own error names it
                continue
        return super().construct_mapping(node, deep=deep)


SWEEP_KEYS = frozenset({"backtest", "grid"})
"""The top-level keys only a sweep file has (``eventstore.sweep``)."""
BACKTEST_KEYS = frozenset(BacktestConfig.model_fields) - {"name"}
"""The top-level keys only a backtest config has (``name`` is in both)."""


def file_kind(raw: dict[Any, Any]) -> Literal["backtest", "sweep"] | None:
    """Which kind of file a mapping was read from, told by its top-level keys: some of one
    kind's own keys and none of the other's; None when it has both or neither. So a file
    passed to the wrong command gets one sentence naming the right one, not one error per
    key."""
    keys = set(raw)
    if keys & SWEEP_KEYS and not keys & BACKTEST_KEYS:
        return "sweep"
    if keys & BACKTEST_KEYS and not keys & SWEEP_KEYS:
        return "backtest"
    return None


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
        if name in _KNOWN_KEYS:  # a setting of another section (data.symbols with files)
            fix = f"{name!r} is not a setting here: remove it"
        else:
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
        if path.is_dir():
            raise ConfigError(
                f"{source}: data.files.{symbol}: {path} is a directory: give a CSV or Parquet "
                f"file of {symbol}'s bars (relative paths are relative to the config file)"
            )
        if not path.is_file():
            raise ConfigError(
                f"{source}: data.files.{symbol}: no data file at {path}: fix the path "
                "(relative paths are relative to the config file)"
            )
        files[symbol] = path
    return config.model_copy(update={"data": data.model_copy(update={"files": files})})
