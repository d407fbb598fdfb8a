"""How numbers read in figures, graphs and reports: durations in the unit that suits them."""

from __future__ import annotations

from eventstore.values import snap


def duration(ms: float) -> str:
    """A duration in milliseconds as a short reading: ``250 ns``, ``12.5 µs``, ``3.2 ms``;
    ``snap``ped first, so it reads alike whichever engine computed it."""
    ms = snap(ms)
    for unit, scale in (("s", 1e3), ("ms", 1.0), ("µs", 1e-3)):
        if abs(ms) >= scale:
            return f"{ms / scale:.3g} {unit}"
    return f"{ms * 1e6:.3g} ns"


def number(value: float) -> str:
    """A payload number without float noise: at most 6 significant digits, no trailing 0s."""
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    return f"{snap(value):.6g}"
