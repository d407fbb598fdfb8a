"""Random damage to a valid config gives a ConfigError naming the file, never a traceback."""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from eventstore import ConfigError
from eventstore.backtest import load_config

from .conftest import BASE_CONFIG

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path in a nested dict/list config."""
    if isinstance(node, dict):
        items: Any = node.items()
    elif isinstance(node, list):
        items = enumerate(node)
    else:
        return []
    found: list[tuple[Any, ...]] = []
    for key, value in items:
        found.append((*prefix, key))
        found.extend(_paths(value, (*prefix, key)))
    return found


PATHS = _paths(BASE_CONFIG)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(PATHS), junk, st.booleans())
def test_damaged_config_is_a_clear_error_or_valid(
    path: tuple[Any, ...], value: Any, add_key: bool
) -> None:
    data = copy.deepcopy(BASE_CONFIG)
    parent: Any = data
    for key in path[:-1]:
        parent = parent[key]
    if add_key and isinstance(parent, dict):
        parent[f"{path[-1]}_x"] = value
    else:
        parent[path[-1]] = value
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "fuzz.yaml"
        file.write_text(yaml.safe_dump(data), encoding="utf-8")
        try:
            load_config(file)
        except ConfigError as exc:
            assert str(exc).startswith(str(file))
            assert "Traceback" not in str(exc)
