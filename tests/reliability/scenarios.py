"""Every reliability scenario, by category: what the tests run and the report tabulates.

A scenario is ``(work_dir, rng) -> Outcome``: it builds what it needs in ``work_dir`` (a fresh
directory), uses ``rng`` to vary where the fault lands, checks every promise it is about, and
reopens the database the way the next user would to count damaged runs.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from tests.reliability import cli_scenarios, library_scenarios, process_scenarios
from tests.reliability.harness import Outcome

ScenarioFn = Callable[[Path, random.Random], Outcome]


@dataclass(frozen=True)
class Scenario:
    category: str
    name: str
    run: ScenarioFn


SCENARIOS: list[Scenario] = [
    # Crash: a run that dies or is stopped keeps exactly what it wrote to its segment files.
    Scenario("crash", "SIGKILL between batches", process_scenarios.sigkill_between_batches),
    Scenario("crash", "SIGKILL inside a load's COMMIT", process_scenarios.sigkill_inside_commit),
    Scenario(
        "crash", "SIGKILL after a load, before its delete", process_scenarios.sigkill_after_commit
    ),
    Scenario("crash", "SIGKILL at a random point", process_scenarios.sigkill_at_random_point),
    Scenario("crash", "exception escapes a handler", process_scenarios.handler_exception),
    Scenario("crash", "uncaught exception, run never closed", process_scenarios.uncaught_at_exit),
    Scenario("crash", "SIGINT mid-run", process_scenarios.sigint_mid_run),
    Scenario("crash", "SIGTERM mid-run (sigterm_interrupts)", process_scenarios.sigterm_mid_run),
    Scenario(
        "crash", "SIGINT while blocked on a full queue", process_scenarios.sigint_while_blocked
    ),
    Scenario("crash", "eventstore run: SIGKILL", cli_scenarios.cli_run_sigkill),
    Scenario("crash", "eventstore run: SIGINT", cli_scenarios.cli_run_sigint),
    Scenario("crash", "eventstore run: SIGTERM", cli_scenarios.cli_run_sigterm),
    # Fault: a write that fails fails the run, loudly, and loses no committed batch.
    Scenario("fault", "batch write fails (random point)", library_scenarios.write_failure),
    Scenario("fault", "disk write fails (RLIMIT_FSIZE)", process_scenarios.disk_write_failure),
    Scenario("fault", "disk full, even for the run's end", process_scenarios.disk_full_to_the_end),
    Scenario("fault", "unencodable strings", library_scenarios.odd_strings),
    Scenario("fault", "payloads of every documented kind", library_scenarios.payloads),
    # Concurrency: other processes, threads, tasks and a slow writer.
    Scenario("concurrency", "second writer process", process_scenarios.second_writer),
    Scenario("concurrency", "reader while a run writes", process_scenarios.reader_while_writing),
    Scenario("concurrency", "threads x asyncio tasks", library_scenarios.threads_and_tasks),
    Scenario(
        "concurrency",
        "threads x tasks, synchronous writer",
        partial(library_scenarios.threads_and_tasks, background=False),
    ),
    Scenario("concurrency", "stuck writer (backpressure)", library_scenarios.backpressure),
    # Bad input: a clear error, exit code ≠ 0, nothing changed on disk.
    Scenario("bad input", "bad input through the CLI", cli_scenarios.cli_bad_input),
    Scenario("bad input", "SQL injection via query helpers", cli_scenarios.helper_injection),
]
