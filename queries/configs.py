"""A run's configuration read back, and two configurations compared key by key.

``runs.config`` holds the JSON mapping a run's tracer was given: the whole validated config of
a backtest (a sweep's runs each hold their grid point's), or whatever a program passed as
``EventTracer(config=…)``. Comparing two runs starts there: runs of one config file with one
strategy parameter changed, or two points of a sweep, differ in a key or two, and those keys
explain the rest of the comparison.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import orjson
import pyarrow as pa

from eventstore.store import Store

from .sql_files import fetch_records

CONFIG_SCHEMA = pa.schema([("key", pa.string()), ("run_a", pa.string()), ("run_b", pa.string())])
"""A configuration difference: the key's path and its value in each run as text (null: the run
has no such key)."""


def run_config(db: Store, run_id: str) -> dict[str, Any]:
    """The configuration run ``run_id`` (an exact id) recorded; {} when it recorded none.
    DuckDB and Parquet hand the JSON back as text, PostgreSQL as a mapping: either will do."""
    value = fetch_records(db, "run_record", {"run_id": run_id})[0]["config"]
    loaded = orjson.loads(value) if isinstance(value, str) and value else value
    return dict(loaded) if isinstance(loaded, Mapping) else {}


def config_differences(a: Mapping[str, Any], b: Mapping[str, Any]) -> pa.Table:
    """The keys whose values differ between configurations ``a`` and ``b``, in the order
    they appear (a's first). Nested mappings are followed (``risk.position_size``), and lists
    that hold mappings, item by item (``_labels``); a list of plain values is one value.
    Values read as in the config: text as is, anything else as JSON (so ``1`` and ``1.0``
    differ, as they may to the program that reads them)."""
    left, right = dict(_leaves(a)), dict(_leaves(b))
    rows = []
    for key in dict.fromkeys([*left, *right]):
        value_a, value_b = _text(left, key), _text(right, key)
        if value_a != value_b:
            rows.append({"key": key, "run_a": value_a, "run_b": value_b})
    return pa.Table.from_pylist(rows, schema=CONFIG_SCHEMA)


def _leaves(value: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, item in value.items():
        yield from _leaf(item, f"{prefix}.{key}" if prefix else str(key))


def _leaf(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping) and value:
        yield from _leaves(value, path)
    elif isinstance(value, list) and any(isinstance(item, Mapping) for item in value):
        for label, item in zip(_labels(value), value, strict=True):
            yield from _leaf(item, f"{path}{label}")
    else:
        yield path, value


def _labels(items: list[Any]) -> list[str]:
    """How each item of a list is named in a key: by its ``name``, else its ``type``, as a
    sweep's grid names a strategy (``strategies.mean_reversion.window``), so reordering a
    list moves no value; by position (``[0]``) when those don't tell every item apart."""
    names = [_label(item) for item in items]
    if None not in names and len(set(names)) == len(names):
        return [f".{name}" for name in names]
    return [f"[{index}]" for index in range(len(items))]


def _label(item: Any) -> str | None:
    if not isinstance(item, Mapping):
        return None
    for field in ("name", "type"):
        if isinstance(item.get(field), str) and item[field]:
            return str(item[field])
    return None


def _text(values: dict[str, Any], key: str) -> str | None:
    if key not in values:
        return None
    value = values[key]
    return value if isinstance(value, str) else orjson.dumps(value).decode()
