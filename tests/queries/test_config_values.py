"""A run's config may hold what a program's settings commonly hold (decimals, dates, paths,
sets, enums, numpy scalars, durations): it is stored as JSON, converted as payloads are, and
``list_runs``, ``compare_runs`` and the ``runs`` and ``compare`` commands read it."""

from __future__ import annotations

import enum
import json
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path, PurePosixPath

import numpy as np
import orjson
import pytest
from typer.testing import CliRunner

from eventstore import ConfigError, Event, EventTracer, Store, TracedEventBus, queries
from eventstore.cli import app


class Mode(enum.Enum):
    LIVE = "live"
    PAPER = "paper"


CONFIG: dict[str, object] = {
    "cash": Decimal("100000.10"),
    "start": datetime(2024, 1, 2, 9, 30),
    "until": date(2024, 6, 28),
    "data": PurePosixPath("/data/prices.csv"),
    "symbols": {"SPY"},
    "venues": frozenset({"XNYS"}),
    "mode": Mode.PAPER,
    "fee": np.float64(0.25),
    "window": np.int64(20),
    "hold": timedelta(minutes=5),
}
STORED = {
    "cash": "100000.10",
    "start": "2024-01-02T09:30:00",
    "until": "2024-06-28",
    "data": "/data/prices.csv",
    "symbols": ["SPY"],
    "venues": ["XNYS"],
    "mode": "paper",
    "fee": 0.25,
    "window": 20,
    "hold": 300.0,
}


def _run(store: Store, config: dict[str, object]) -> str:
    with EventTracer(store=store, config=config) as tracer:
        bus = TracedEventBus("configured")
        bus.set_tracer(tracer)
        bus.publish(Event("TICK", datetime(2024, 1, 2), {"price": 1.0}), source="feed")
    return tracer.correlation_id


def test_config_values_are_stored_as_json_the_queries_read(store: Store) -> None:
    run = _run(store, CONFIG)
    (row,) = queries.run_sql(store, f"SELECT config FROM runs WHERE run_id = '{run}'").to_pylist()
    assert orjson.loads(row["config"]) == STORED


def test_compare_names_the_values_that_differ(store: Store, db_path: Path) -> None:
    a = _run(store, CONFIG)
    b = _run(store, CONFIG | {"cash": Decimal("5.5"), "data": Path("/data/other.csv")})
    diff = queries.compare_runs(store, a, b)
    assert diff.config.to_pylist() == [
        {"key": "cash", "run_a": "100000.10", "run_b": "5.5"},
        {"key": "data", "run_a": "/data/prices.csv", "run_b": "/data/other.csv"},
    ]
    store.close()
    runner = CliRunner()
    shown = runner.invoke(app, ["compare", a, b, "--db", str(db_path), "-q", "-f", "json"])
    assert shown.exit_code == 0, shown.stderr
    assert "/data/other.csv" in shown.stdout and "100000.10" in shown.stdout
    listed = runner.invoke(app, ["runs", "--db", str(db_path), "-f", "json"])
    assert listed.exit_code == 0, listed.stderr
    assert {r["run_id"] for r in json.loads(listed.stdout)} == {a, b}


def test_a_value_json_cannot_hold_is_refused_naming_its_key(store: Store) -> None:
    with pytest.raises(ConfigError, match=r"config\['huge'\] can't be stored"):
        EventTracer(store=store, config={"seed": 1, "huge": 2**70})
    with pytest.raises(ConfigError, match=r"config\['broker'\] can't be stored"):
        EventTracer(store=store, config={"broker": object()})
    assert queries.list_runs(store).num_rows == 0
