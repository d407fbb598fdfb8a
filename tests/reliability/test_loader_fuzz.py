"""Hypothesis feeds the backtest's loaders raw random input (text, bytes, mangled CSV rows and
YAML documents): they return a valid result or raise our own error (``ConfigError``,
``DataError``) naming the file, never anything else. (tests/backtest/test_config_fuzz.py damages
valid configs key by key; this drives the parsers with input that need not be YAML or CSV.)"""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from eventstore import ConfigError, DataError
from eventstore.backtest import load_config, load_csv

HEADER = "date,open,high,low,close,volume"

cells = st.one_of(
    st.sampled_from(["", " ", "nan", "inf", "-1", "0", "1e309", "1,5", "NULL", "2024-13-45"]),
    st.from_regex(r"-?[0-9]{1,6}(\.[0-9]{1,4})?", fullmatch=True),
    st.from_regex(r"20[0-9]{2}-[01][0-9]-[0-3][0-9]( [0-2][0-9]:[0-5][0-9])?", fullmatch=True),
    st.text(max_size=12),
)
rows = st.lists(st.lists(cells, min_size=0, max_size=8), max_size=8)
headers = st.one_of(
    st.just(HEADER),
    st.just("Timestamp,Open,High,Low,Close,Volume,Extra"),
    st.lists(
        st.sampled_from(["date", "open", "high", "low", "close", "volume", "x"]), max_size=7
    ).map(",".join),
    st.text(max_size=40),
)


def _write(data: bytes) -> tuple[tempfile.TemporaryDirectory[str], Path]:
    tmp = tempfile.TemporaryDirectory()
    path = Path(tmp.name) / "input"
    path.write_bytes(data)
    return tmp, path


@settings(max_examples=60, deadline=None)
@given(header=headers, body=rows, limit=st.one_of(st.none(), st.integers(1, 5)))
def test_csv_rows_give_bars_or_a_data_error(
    header: str, body: list[list[str]], limit: int | None
) -> None:
    text = "\n".join([header, *(",".join(row) for row in body)])
    tmp, path = _write(text.encode("utf-8", "surrogatepass"))
    with tmp:
        try:
            bars = load_csv(path, "SYM", limit)
        except DataError as exc:
            assert str(exc).startswith(str(path)), exc
        else:
            assert len(bars) >= 1 and (limit is None or len(bars) <= limit)
            assert all(a < b for a, b in zip(bars.times, bars.times[1:], strict=False))
            assert all(lo <= hi for lo, hi in zip(bars.lows, bars.highs, strict=True))


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=300))
def test_csv_bytes_give_bars_or_a_data_error(data: bytes) -> None:
    tmp, path = _write(HEADER.encode() + b"\n" + data)
    with tmp:
        try:
            load_csv(path, "SYM")
        except DataError as exc:
            assert str(exc).startswith(str(path)), exc


yaml_values = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=10), st.dates()
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=60, deadline=None)
@given(
    text=st.one_of(
        st.text(max_size=200),
        yaml_values.map(lambda v: yaml.safe_dump(v, allow_unicode=True)),
        st.sampled_from(
            [
                "name: [unclosed",
                "a: b: c",
                "\t- tab indented",
                "data: !!python/object/apply:os.system ['echo pwned']",
                "*undefined_alias",
                "name: x\nname: y\n",
                "---\n---\n",
                "data: {source: csv, files: {SPY: /dev/null}}\nname: x\nstrategies: []",
                "data: {source: csv, files: {SPY: .}}\nname: x\nstrategies: [{type: breakout}]",
            ]
        ),
    )
)
def test_config_text_gives_a_config_or_a_config_error(text: str) -> None:
    tmp, path = _write(text.encode("utf-8", "surrogatepass"))
    with tmp:
        try:
            load_config(path)
        except ConfigError as exc:
            assert str(exc).startswith(f"{path}") or f"{path}" in str(exc), exc


@settings(max_examples=40, deadline=None)
@given(data=st.binary(max_size=200))
def test_config_bytes_give_a_config_or_a_config_error(data: bytes) -> None:
    tmp, path = _write(data)
    with tmp:
        try:
            load_config(path)
        except ConfigError as exc:
            assert str(path) in str(exc), exc
