"""Other processes, threads, asyncio tasks and a writer that falls behind: a clear error or a
wait, never a damaged run; every event exactly once with its own thread's causation."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.reliability import library_scenarios, process_scenarios
from tests.reliability.conftest import assert_ok


def test_a_second_writer_gets_a_clear_error(tmp_path: Path, rng: random.Random) -> None:
    assert_ok(process_scenarios.second_writer(tmp_path, rng))


def test_a_reader_is_told_busy_then_gets_in(tmp_path: Path, rng: random.Random) -> None:
    assert_ok(process_scenarios.reader_while_writing(tmp_path, rng))


@pytest.mark.parametrize(("batch_size", "background"), [(3, True), (7, False), (64, True)])
def test_threads_and_asyncio_tasks_on_one_bus(
    tmp_path: Path, rng: random.Random, batch_size: int, background: bool
) -> None:
    assert_ok(
        library_scenarios.threads_and_tasks(
            tmp_path, rng, batch_size=batch_size, background=background
        )
    )


@pytest.mark.parametrize("seed", [0, 1])
def test_a_stuck_writer_blocks_the_publisher_within_the_bound(tmp_path: Path, seed: int) -> None:
    assert_ok(library_scenarios.backpressure(tmp_path, random.Random(seed)))
