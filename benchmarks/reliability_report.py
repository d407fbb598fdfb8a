"""Reliability report: runs the crash, fault, concurrency and bad-input scenarios of issue 6 and
prints one table.

Run from the repository root::

    python benchmarks/reliability_report.py            # 3 tries of every scenario
    python benchmarks/reliability_report.py --tries 10 --only SIGKILL

The scenarios are the ones ``tests/reliability`` asserts (``tests/reliability/scenarios.py``),
with real files and real processes; each try uses a fresh directory and its own random choice
of where the fault lands (which batch fails, when the kill comes, how big the batches are).

Columns: ``tries``; ``expected`` and ``found`` summed over the tries: events for the runs
(committed before a crash, recorded before an interrupt, published in a healthy run; ``≥``
where a kill at a random point may land after further commits), cases for the bad-input
scenarios; ``damaged`` counts runs that, reopened as the next user would, are not exactly
seq 1..n with consistent edges, deliveries, causation and ``event_count`` and a final status,
or an earlier run that changed (it must be 0); ``result`` is PASS when every promise of the
scenario held in every try. Problems of failed tries are listed under the table. The exit code
is 1 if any scenario failed.
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.reliability.harness import Outcome  # noqa: E402
from tests.reliability.scenarios import SCENARIOS, Scenario  # noqa: E402

COLUMNS = ("category", "scenario", "tries", "expected", "found", "damaged", "result")


@dataclass
class Row:
    scenario: Scenario
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]

    @property
    def damaged(self) -> int:
        return sum(o.damaged for o in self.outcomes)

    def _total(self, values: list[int | str]) -> str:
        if all(isinstance(v, int) for v in values):
            return f"{sum(v for v in values if isinstance(v, int)):,}"
        return str(values[0]) if len(set(values)) == 1 else "varies"

    def cells(self) -> tuple[str, ...]:
        expected = self._total([o.expected for o in self.outcomes])
        if any(o.at_least for o in self.outcomes):
            expected = f"≥{expected}"
        failed = len(self.failed)
        result = "PASS" if not failed else f"FAIL {failed}/{len(self.outcomes)}"
        return (
            self.scenario.category,
            self.scenario.name,
            str(len(self.outcomes)),
            expected,
            self._total([o.found for o in self.outcomes]),
            str(self.damaged),
            result,
        )


def run_scenario(scenario: Scenario, tries: int, seed: int) -> Row:
    row = Row(scenario)
    for attempt in range(tries):
        rng = random.Random(f"{seed}/{scenario.name}/{attempt}")
        with tempfile.TemporaryDirectory(prefix="eventstore-reliability-") as work:
            try:
                outcome = scenario.run(Path(work), rng)
            except Exception as exc:  # a scenario that cannot finish is a failed try
                outcome = Outcome(scenario.name, "?", "?")
                outcome.problems.append(f"the scenario raised {type(exc).__name__}: {exc}")
        row.outcomes.append(outcome)
    return row


def render(rows: list[Row]) -> str:
    table = [COLUMNS, *(row.cells() for row in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]
    numeric = {2, 3, 4, 5}

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(
            c.rjust(w) if i in numeric else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(table[0]), rule, *(line(cells) for cells in table[1:])])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=" ".join((__doc__ or "").split("\n\n")[0].split()))
    parser.add_argument("--tries", type=int, default=3, help="tries per scenario (default 3)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random fault points")
    parser.add_argument("--only", help="run only scenarios whose name contains this text")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)
    if args.tries < 1:
        parser.error("--tries must be at least 1")
    # The library logs what the scenarios provoke (crashed runs marked, failed writes); the
    # outcomes already say it.
    library_log = logging.getLogger("eventstore")
    library_log.addHandler(logging.NullHandler())
    library_log.propagate = False

    chosen = [s for s in SCENARIOS if not args.only or args.only.lower() in s.name.lower()]
    if not chosen:
        parser.error(f"no scenario name contains {args.only!r}")
    rows: list[Row] = []
    started = time.perf_counter()
    for scenario in chosen:
        began = time.perf_counter()
        row = run_scenario(scenario, args.tries, args.seed)
        rows.append(row)
        if not args.quiet:
            took = time.perf_counter() - began
            print(f"{row.cells()[-1]:>9}  {scenario.name}  ({took:.1f} s)", file=sys.stderr)
    print(render(rows))
    total_damaged = sum(row.damaged for row in rows)
    failed = [row for row in rows if row.failed]
    print(
        f"\n{len(rows)} scenarios x {args.tries} tries in {time.perf_counter() - started:.0f} s: "
        f"{len(rows) - len(failed)} passed, {len(failed)} failed, {total_damaged} runs damaged"
    )
    for row in failed:
        print(f"\n{row.scenario.name}:")
        for number, outcome in enumerate(row.outcomes, start=1):
            for problem in outcome.problems:
                print(f"  try {number}: {problem[:400]}")
    return 1 if failed or total_damaged else 0


if __name__ == "__main__":
    sys.exit(main())
