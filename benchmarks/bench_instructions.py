"""Instructions per event, traced vs untraced, counted by valgrind (callgrind).

Wall-clock timings on a shared 2-core machine move by 2x with the neighbours' load; instruction
counts do not: the same code, inputs and interpreter give the same count whatever else runs.
This runs a small publish loop under ``valgrind --tool=callgrind`` at two sizes for each variant
and prints the per-event difference (so interpreter start-up and imports cancel out).

    python benchmarks/bench_instructions.py [--events 40000]

Needs valgrind (``apt-get install valgrind``). Each of the six runs takes about a minute.
Variants: ``untraced`` (EventBus); ``compiled`` and ``pure`` (TracedEventBus + EventTracer
without a store: the hot path), the latter in a process started with
``EVENTSTORE_PURE_PYTHON=1``; the workload checks that it got the recorder it asked for. The
event is built in the loop in every variant, exactly as bench_tracing.py builds it.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

WORKLOAD = """
import sys
from datetime import datetime
from eventstore import Event, EventBus, EventTracer, EventType, TracedEventBus
from eventstore.tracing.implementation import RECORDER_NAME
variant, count = sys.argv[1], int(sys.argv[2])
expected = {"compiled": "compiled", "pure": "pure-Python"}.get(variant, RECORDER_NAME)
if RECORDER_NAME != expected:
    sys.exit(f"asked for the {expected} recorder, got the {RECORDER_NAME} one")
when = datetime(2024, 1, 2)
closes = {}
def on_bar(event):
    closes[event.payload["symbol"]] = event.payload["close"]
if variant == "untraced":
    bus = EventBus("bench")
else:
    bus = TracedEventBus("bench")
    bus.set_tracer(EventTracer())
bus.subscribe(EventType.BAR, on_bar)
for i in range(count):
    bus.publish(Event(EventType.BAR, when, {"symbol": "SPY", "close": 100.0 + i}))
"""


VARIANTS = {
    "untraced": "untraced (build event + dispatch)",
    "compiled": "traced, buffer only, compiled",
    "pure": "traced, buffer only, pure-Python",
}


def workload_env(variant: str) -> dict[str, str]:
    """The environment of a workload run: a fixed hash seed (string hashing then takes the
    same paths every run), and the pure-Python recorder forced for ``pure`` only."""
    env = {k: v for k, v in os.environ.items() if k != "EVENTSTORE_PURE_PYTHON"}
    env["PYTHONHASHSEED"] = "0"
    if variant == "pure":
        env["EVENTSTORE_PURE_PYTHON"] = "1"
    return env


def instructions(script: Path, variant: str, events: int) -> int:
    """Instructions the whole process executed (callgrind's 'Collected' total)."""
    env = workload_env(variant)
    result = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
         sys.executable, str(script), variant, str(events)],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    if result.returncode != 0:
        raise SystemExit(f"the {variant} workload failed:\n{result.stderr[-2000:]}")
    match = re.search(r"Collected : (\d+)", result.stderr)
    if match is None:
        raise SystemExit(f"no instruction count in valgrind's output:\n{result.stderr[-2000:]}")
    return int(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=" ".join((__doc__ or "").split("\n\n")[0].split()))
    parser.add_argument("--events", type=int, default=40_000, help="events of the larger run")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed: apt-get install valgrind")
    small = 1_000
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "workload.py"
        script.write_text(WORKLOAD)
        per_event = {}
        for variant in VARIANTS:
            # Once without valgrind: byte-compiles any changed module now, not in a counted run.
            subprocess.run(
                [sys.executable, str(script), variant, "10"], env=workload_env(variant), check=True
            )
            low = instructions(script, variant, small)
            high = instructions(script, variant, args.events)
            per_event[variant] = (high - low) / (args.events - small)
    untraced = per_event["untraced"]
    print(f"instructions per event ({args.events:,} vs {small:,} events, callgrind)")
    print(f"{'variant':<36}{'instructions':>14}{'added':>10}{'x untraced':>12}")
    for variant, label in VARIANTS.items():
        count = per_event[variant]
        added = f"{count - untraced:>10,.0f}" if variant != "untraced" else f"{'':>10}"
        print(f"{label:<36}{count:>14,.0f}{added}{count / untraced:>11.2f}x")


if __name__ == "__main__":
    main()
