"""The SQL files: each says what it answers and its parameters, and a dialect variant gives the
same answer as the portable file it stands in for."""

from __future__ import annotations

from importlib import resources
from typing import Any

import pytest
from eventstore.queries.sql_files import load_sql, parameters

from tests.queries.conftest import TradingStore

SQL = resources.files("eventstore.queries").joinpath("sql")
FILES = sorted(p.name for p in SQL.iterdir() if p.name.endswith(".sql"))
VARIANTS = [n for n in FILES if n.count(".") == 2]


@pytest.mark.parametrize("name", FILES)
def test_every_file_has_a_header_with_its_parameters(name: str) -> None:
    text = SQL.joinpath(name).read_text(encoding="utf-8")
    header = [line for line in text.splitlines() if line.startswith("--")]
    assert text.startswith("-- ") and len(header) >= 2
    assert any("Parameters:" in line for line in header)
    for parameter in parameters(text):
        assert f":{parameter}" in "\n".join(header), f"{name} does not describe :{parameter}"


def run_text(trading: TradingStore, text: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [tuple(row.values()) for row in trading.store.fetch_records(text, params)]


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_dialect_variant_answers_like_the_portable_file(
    trading: TradingStore, variant: str
) -> None:
    name, dialect, _ = variant.split(".")
    params = {
        "run_a": trading.a.run_id,
        "run_b": trading.b.run_id,
        "by": "handler",
        "all_runs": False,
        "run_ids": [trading.a.run_id, trading.b.run_id],
        "per_run": True,
        "limit": None,
    }
    portable = run_text(trading, load_sql(name, "portable-only"), params)
    specific = run_text(trading, load_sql(name, dialect), params)
    assert len(portable) > 0
    assert [_rounded(row) for row in specific] == [_rounded(row) for row in portable]


def _rounded(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """Milliseconds to the nanosecond: the engines may differ in the last float bits."""
    return tuple(round(v, 9) if isinstance(v, float) else v for v in row)
