"""Payloads of every documented kind read back from the file as documented (payloads.py)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.reliability import library_scenarios
from tests.reliability.conftest import assert_ok


@pytest.mark.parametrize("seed", [0, 1])
def test_payloads_round_trip_as_documented(tmp_path: Path, seed: int) -> None:
    assert_ok(library_scenarios.payloads(tmp_path, random.Random(seed)))
