"""A traced program that is killed, raises or is interrupted keeps exactly what it committed,
and the next open shows how it ended (real subprocesses, real files)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.reliability import process_scenarios as scenarios
from tests.reliability.conftest import assert_ok


def test_sigkill_between_batches_keeps_exactly_the_committed_batches(
    tmp_path: Path, rng: random.Random
) -> None:
    assert_ok(scenarios.sigkill_between_batches(tmp_path, rng))


def test_sigkill_inside_a_load_commit_keeps_every_written_batch(
    tmp_path: Path, rng: random.Random
) -> None:
    assert_ok(scenarios.sigkill_inside_commit(tmp_path, rng))


def test_sigkill_after_a_load_commit_stores_each_event_once(
    tmp_path: Path, rng: random.Random
) -> None:
    assert_ok(scenarios.sigkill_after_commit(tmp_path, rng))


@pytest.mark.parametrize("seed", range(4))
def test_sigkill_at_a_random_point_with_loads_leaves_whole_batches(
    seed: int, tmp_path: Path
) -> None:
    assert_ok(scenarios.sigkill_at_random_point(tmp_path, random.Random(100 + seed)))


def test_sigkill_at_a_random_point_leaves_whole_batches(tmp_path: Path, rng: random.Random) -> None:
    assert_ok(scenarios.sigkill_at_random_point(tmp_path, rng))


def test_an_exception_escaping_a_handler_fails_the_run(tmp_path: Path, rng: random.Random) -> None:
    assert_ok(scenarios.handler_exception(tmp_path, rng))


def test_an_unclosed_run_is_failed_by_an_uncaught_exception(
    tmp_path: Path, rng: random.Random
) -> None:
    assert_ok(scenarios.uncaught_at_exit(tmp_path, rng))


def test_sigint_interrupts_with_everything_flushed(tmp_path: Path, rng: random.Random) -> None:
    assert_ok(scenarios.sigint_mid_run(tmp_path, rng))


def test_sigterm_interrupts_with_everything_flushed(tmp_path: Path, rng: random.Random) -> None:
    assert_ok(scenarios.sigterm_mid_run(tmp_path, rng))


def test_sigint_while_blocked_by_backpressure_loses_nothing(
    tmp_path: Path, rng: random.Random
) -> None:
    assert_ok(scenarios.sigint_while_blocked(tmp_path, rng))
