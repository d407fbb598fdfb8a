"""Instructions per event, traced vs untraced, counted by valgrind (callgrind).

Wall-clock timings on a shared 2-core machine move by 2x with the neighbours' load; instruction
counts do not: the same code, inputs and interpreter give the same count whatever else runs.
This runs a small publish loop under ``valgrind --tool=callgrind`` at two sizes for each variant
and prints the per-event difference (so interpreter start-up and imports cancel out).

    python benchmarks/bench_instructions.py [--events 40000]

Needs valgrind (``apt-get install valgrind``). Each of the four runs takes about a minute.
Variants: ``untraced`` (EventBus), ``traced`` (TracedEventBus + EventTracer without a store: the
hot path). The event is built in the loop in both, exactly as bench_tracing.py builds it.
"""

from __future__ import annotations

import argparse
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
variant, count = sys.argv[1], int(sys.argv[2])
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


def instructions(script: Path, variant: str, events: int) -> int:
    """Instructions the whole process executed (callgrind's 'Collected' total)."""
    result = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
         sys.executable, str(script), variant, str(events)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    match = re.search(r"Collected : (\d+)", result.stderr)
    if match is None:
        raise SystemExit(f"no instruction count in valgrind's output:\n{result.stderr[-2000:]}")
    return int(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=40_000, help="events of the larger run")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed: apt-get install valgrind")
    small = 1_000
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "workload.py"
        script.write_text(WORKLOAD)
        per_event = {}
        for variant in ("untraced", "traced"):
            low = instructions(script, variant, small)
            high = instructions(script, variant, args.events)
            per_event[variant] = (high - low) / (args.events - small)
    untraced, traced = per_event["untraced"], per_event["traced"]
    print(f"instructions per event ({args.events:,} vs {small:,} events, callgrind)")
    print(f"{'variant':<34}{'instructions':>14}")
    print(f"{'untraced (build event + dispatch)':<34}{untraced:>14,.0f}")
    print(f"{'traced, buffer only':<34}{traced:>14,.0f}")
    print(f"{'overhead of tracing':<34}{traced - untraced:>14,.0f}  ({traced / untraced:.2f}x)")


if __name__ == "__main__":
    main()
