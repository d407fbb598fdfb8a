"""Each scenario runs once per test with a fixed seed (the report varies it over many tries)."""

from __future__ import annotations

import random

import pytest

from tests.reliability.harness import Outcome


@pytest.fixture
def rng() -> random.Random:
    return random.Random(6)


def assert_ok(outcome: Outcome) -> None:
    """Fail with every problem the scenario saw, and the damaged-run count."""
    assert outcome.problems == [], f"{outcome.scenario}: {outcome.problems}"
    assert outcome.damaged == 0, f"{outcome.scenario}: {outcome.damaged} runs damaged"
    if isinstance(outcome.expected, int) and isinstance(outcome.found, int):
        assert outcome.found >= outcome.expected if outcome.at_least else True
