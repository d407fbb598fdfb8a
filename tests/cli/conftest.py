"""A run database for the query commands: two runs of the trading flow traced by the real
tracer into a file that is closed before the commands open it read-only; and how a failed
command's error message is read."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from eventstore import open_store
from eventstore.text_table import terminal_width
from tests.queries.flows import CLOSES, Truth, trace_trading


def error_message(stderr: str, width: int | None = None) -> str:
    """The one error message a failed command printed, in one line as it was raised: stderr
    holds nothing else (no traceback), starts ``error: ``, and is wrapped at spaces to
    ``width`` (the terminal's), every line after the first indented two spaces, none longer
    than ``width`` unless a single word (a path) makes it so."""
    assert "Traceback" not in stderr, stderr
    lines = stderr.rstrip("\n").splitlines()
    assert lines and lines[0].startswith("error: "), stderr
    assert all(line.startswith("  ") and line[2] != " " for line in lines[1:]), stderr
    room = width or terminal_width()
    long = [line for line in lines if len(line) > room]
    assert all(len(line.removeprefix("error: ").split()) == 1 for line in long), stderr
    return " ".join(line.strip() for line in lines)


@dataclass
class TracedFile:
    path: Path
    a: Truth
    b: Truth


@pytest.fixture(scope="module")
def traced_file(tmp_path_factory: pytest.TempPathFactory) -> TracedFile:
    path = tmp_path_factory.mktemp("cli") / "runs.duckdb"
    closes_b = [*CLOSES[:5], 101.0, *CLOSES[6:]]
    with open_store(path) as store:
        a = trace_trading(store, CLOSES, name="a")
        b = trace_trading(store, closes_b, name="b")
    return TracedFile(path, a, b)
