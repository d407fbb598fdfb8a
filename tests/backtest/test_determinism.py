"""The same config and seed give the same events (types and payloads, ids and wall times
aside); another seed gives others; tracing never changes the trades."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import orjson

from eventstore import Store
from eventstore.backtest import BacktestConfig, BacktestContainer


def _sequence(store: Store, run_id: str | None) -> list[tuple[str, str]]:
    assert run_id is not None
    rows = store.cursor().execute(
        "SELECT event_type, payload FROM events WHERE run_id = ? ORDER BY seq", [run_id]
    )
    return [(event_type, payload) for event_type, payload in rows.fetchall()]


def _with_seed(config: BacktestConfig, seed: int) -> BacktestConfig:
    return config.model_copy(update={"seed": seed})


def test_same_seed_gives_identical_event_sequences(
    store: Store, small_config: BacktestConfig
) -> None:
    first = BacktestContainer(small_config, store).run()
    second = BacktestContainer(small_config, store).run()
    assert first.correlation_id != second.correlation_id
    sequence = _sequence(store, first.correlation_id)
    assert len(sequence) == first.event_count > 1_000
    assert sequence == _sequence(store, second.correlation_id)


def test_another_seed_gives_other_events(store: Store, small_config: BacktestConfig) -> None:
    first = BacktestContainer(small_config, store).run()
    other = BacktestContainer(_with_seed(small_config, 4), store).run()
    assert _sequence(store, first.correlation_id) != _sequence(store, other.correlation_id)


def test_untraced_run_has_the_same_trading_result(
    store: Store, small_config: BacktestConfig
) -> None:
    traced = BacktestContainer(small_config, store).run()
    untraced = BacktestContainer(small_config, trace=False).run()
    assert untraced.correlation_id is None
    assert untraced.trading_outcome() == traced.trading_outcome()
    assert traced.fills > 0


def test_untraced_run_writes_nothing(store: Store, small_config: BacktestConfig) -> None:
    BacktestContainer(small_config, trace=False).run()
    counts: Any = store.cursor().execute(
        "SELECT (SELECT count(*) FROM runs), (SELECT count(*) FROM events)"
    )
    assert counts.fetchone() == (0, 0)


def test_same_result_in_another_process_with_another_hash_seed(
    small_config: BacktestConfig,
) -> None:
    script = (
        "import sys, orjson\n"
        "from eventstore.backtest import BacktestConfig, BacktestContainer\n"
        "config = BacktestConfig.model_validate_json(sys.stdin.read())\n"
        "result = BacktestContainer(config, trace=False).run()\n"
        "sys.stdout.buffer.write(orjson.dumps(result.trading_outcome()))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        input=small_config.model_dump_json(),
        env={**os.environ, "PYTHONHASHSEED": "12345"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    here = BacktestContainer(small_config, trace=False).run().trading_outcome()
    assert orjson.loads(done.stdout) == orjson.loads(orjson.dumps(here))
