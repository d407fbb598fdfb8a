"""Through the demo backtester and the query commands: a real ``eventstore run`` killed or
stopped mid-run, and every kind of bad input, each a clear error that changes nothing."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.reliability import cli_scenarios
from tests.reliability.conftest import assert_ok

KNOWN_BUGS: dict[str, str] = {}  # case name → reason, for a bad input not yet handled


def test_eventstore_run_killed_is_crashed(tmp_path: Path, rng: random.Random) -> None:
    assert_ok(cli_scenarios.cli_run_sigkill(tmp_path, rng))


def test_eventstore_run_ctrl_c_is_interrupted(tmp_path: Path, rng: random.Random) -> None:
    assert_ok(cli_scenarios.cli_run_sigint(tmp_path, rng))


def test_eventstore_run_sigterm_is_interrupted(tmp_path: Path, rng: random.Random) -> None:
    assert_ok(cli_scenarios.cli_run_sigterm(tmp_path, rng))


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> cli_scenarios.BadInputBench:
    return cli_scenarios.bad_input_bench(tmp_path_factory.mktemp("bad_input"))


def _case_names() -> list[object]:
    names = [case.name for case in cli_scenarios.bad_input_cases()]
    return [
        pytest.param(n, marks=pytest.mark.xfail(reason=KNOWN_BUGS[n], strict=True))
        if n in KNOWN_BUGS
        else n
        for n in names
    ]


@pytest.mark.parametrize("name", _case_names())
def test_bad_input_is_one_clear_error_and_changes_nothing(
    bench: cli_scenarios.BadInputBench, name: str
) -> None:
    problems = cli_scenarios.try_bad_input(bench, bench.cases[name])
    assert problems == []


def test_sql_injection_through_query_helpers(tmp_path: Path, rng: random.Random) -> None:
    assert_ok(cli_scenarios.helper_injection(tmp_path, rng))
