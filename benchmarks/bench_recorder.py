"""What a recorder adds per event: ``Recorder.publish`` with one trivial handler, compiled and
pure-Python, against calling the handler in a plain loop and against the untraced ``EventBus``.

Run from the repository root::

    python benchmarks/bench_recorder.py                 # 200 000 events, 5 repeats
    python benchmarks/bench_recorder.py --events 50000 --repeats 3

Every variant dispatches the same pre-built events (``Event(EventType.BAR, ts, {...})``) to
the same handler, so event creation is outside the timing and the handler's cost cancels out.
Variants run interleaved inside each repeat, in a rotating order; figures are medians, and
"added" is the median of per-repeat differences to the plain loop (paired).

- ``plain loop``: ``for e in events: handler(e)``.
- ``EventBus.publish``: untraced publish + dispatch.
- ``<recorder> publish``: ``recorder.publish(e, source, ((handler, "name"),))`` with a batch
  size larger than the run: the hot path alone (buffers only).
- ``<recorder> publish+drain``: batch size 10 000, every full buffer drained to Arrow tables by
  ``on_full`` (and dropped): what the publishing thread pays with the hand-off.
- ``viztracer log_instant``: VizTracer's custom event with the payload as args, in memory
  (only when ``viztracer`` can be imported).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from eventstore.bus import EventBus
from eventstore.events import Event, EventType
from eventstore.tracing.compiled_recorder import load
from eventstore.tracing.encoding import FAST_OPTIONS, PayloadEncoder
from eventstore.tracing.recorder import RecorderHooks


def make_hooks(on_full: Callable[[], None]) -> RecorderHooks:
    encoder = PayloadEncoder()
    return RecorderHooks(
        encode=encoder.encode,
        json_default=encoder.default,
        json_options=FAST_OPTIONS,
        name_of_source=lambda source: source if isinstance(source, str) else None,
        on_full=on_full,
        recent=lambda seq: None,
        run_id="bench",
        lineage_memory=10_000,
        closed_error=RuntimeError,
        closed_message="closed",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=" ".join((__doc__ or "").split("\n\n")[0].split()))
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    n = args.events
    stamp = datetime(2024, 1, 2, 9, 30)
    events = [
        Event(EventType.BAR, stamp, {"symbol": "AAPL", "close": 100.0 + i % 50}) for i in range(n)
    ]
    last: list[Any] = [None]

    def handler(event: Event) -> None:
        last[0] = event

    handlers = ((handler, "strategy.on_bar"),)

    def plain() -> None:
        for event in events:
            handler(event)

    bus = EventBus("bench")
    bus.subscribe(EventType.BAR, handler)

    def untraced() -> None:
        publish = bus.publish
        for event in events:
            publish(event)

    def recorder_variant(cls: Any, batch_size: int) -> Callable[[], None]:
        def run() -> None:
            holder: list[Any] = []
            recorder = cls("bench-", batch_size, make_hooks(lambda: holder[0].drain()))
            holder.append(recorder)
            publish = recorder.publish
            for event in events:
                publish(event, "feed", handlers)

        return run

    variants: dict[str, Callable[[], None]] = {
        "plain loop": plain,
        "EventBus.publish": untraced,
    }
    compiled = load()
    if compiled is not None:
        variants["compiled publish"] = recorder_variant(compiled, n + 1)
        variants["compiled publish+drain"] = recorder_variant(compiled, 10_000)
    try:
        from eventstore.tracing.pure_recorder import PureRecorder
    except ImportError:
        pass
    else:
        variants["pure publish"] = recorder_variant(PureRecorder, n + 1)
        variants["pure publish+drain"] = recorder_variant(PureRecorder, 10_000)
    try:
        from viztracer import VizTracer  # type: ignore[import-not-found]
    except ImportError:
        pass
    else:

        def viztracer_variant() -> None:
            tracer = VizTracer(tracer_entries=n + 10, verbose=0)
            tracer.start()
            log = tracer.log_instant
            for event in events:
                log("BAR", args=event.payload)
                handler(event)
            tracer.stop()
            tracer.clear()

        variants["viztracer log_instant"] = viztracer_variant

    names = list(variants)
    timings: dict[str, list[float]] = {name: [] for name in names}
    for repeat in range(args.repeats):
        order = names[repeat % len(names) :] + names[: repeat % len(names)]
        for name in order:
            gc.collect()
            start = time.perf_counter_ns()
            variants[name]()
            timings[name].append((time.perf_counter_ns() - start) / n)
    base = timings["plain loop"]
    bus_base = timings["EventBus.publish"]
    print(f"{n} events, {args.repeats} repeats, medians (ns/event)")
    print(f"{'variant':<26}{'ns/event':>10}{'added vs loop':>15}{'added vs bus':>14}")
    for name in names:
        times = timings[name]
        added = statistics.median(t - b for t, b in zip(times, base, strict=True))
        added_bus = statistics.median(t - b for t, b in zip(times, bus_base, strict=True))
        print(f"{name:<26}{statistics.median(times):>10.0f}{added:>15.0f}{added_bus:>14.0f}")


if __name__ == "__main__":
    main()
