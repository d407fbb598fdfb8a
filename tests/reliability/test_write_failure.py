"""A batch that cannot be written fails the run with a clear message, keeps every batch
committed before it, stores nothing of itself, and the program is told (TraceWriteError)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.reliability import library_scenarios, process_scenarios
from tests.reliability.conftest import assert_ok


@pytest.mark.parametrize("where", ["writer", "statement", "commit"])
@pytest.mark.parametrize("background", [True, False])
def test_a_failed_batch_fails_the_run_and_keeps_the_earlier_ones(
    tmp_path: Path, rng: random.Random, background: bool, where: str
) -> None:
    assert_ok(library_scenarios.write_failure(tmp_path, rng, background=background, where=where))


def test_a_real_disk_write_failure(tmp_path: Path, rng: random.Random) -> None:
    assert_ok(process_scenarios.disk_write_failure(tmp_path, rng))


def test_a_disk_too_full_to_record_the_end_leaves_a_crashed_run(
    tmp_path: Path, rng: random.Random
) -> None:
    assert_ok(process_scenarios.disk_full_to_the_end(tmp_path, rng))


def test_strings_utf8_cannot_hold_never_fail_a_batch(tmp_path: Path, rng: random.Random) -> None:
    assert_ok(library_scenarios.odd_strings(tmp_path, rng))
