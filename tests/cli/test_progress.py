"""Long analysis shows a progress bar on stderr, never on stdout, and none with --quiet."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from typer.testing import CliRunner

from eventstore import progress
from eventstore.cli import app
from tests.cli.conftest import TracedFile

COMMANDS = {  # the command, and its bar's label
    "analyze": (["analyze", "--latest"], "analysis"),
    "chains": (["chains", "--latest"], "chains"),
    "latency": (["latency", "--by", "handler"], "latency"),
    "compare": (["compare", "latest", "latest"], "compare"),
}


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """stderr as a terminal (into a buffer), and bars shown from the first moment."""
    buffer = io.StringIO()
    monkeypatch.setattr(
        progress,
        "stderr_console",
        lambda: Console(file=buffer, force_terminal=True, width=80),
    )
    monkeypatch.setattr(progress, "SHOW_AFTER", 0)
    return buffer


def run(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.stderr or result.stdout
    return result.stdout


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("fmt", ["csv", "json", "table"])
def test_the_bar_goes_to_stderr_and_stdout_is_as_with_quiet(
    traced_file: TracedFile, terminal: io.StringIO, command: str, fmt: str
) -> None:
    words, label = COMMANDS[command]
    args = [*words, "--db", str(traced_file.path), "-f", fmt]
    shown = run(*args)
    assert label in terminal.getvalue() and "━" in terminal.getvalue()
    assert "100%" in terminal.getvalue()
    terminal.seek(0)
    terminal.truncate()
    assert run(*args, "--quiet") == shown
    assert terminal.getvalue() == ""


def test_quick_work_shows_no_bar(traced_file: TracedFile, monkeypatch: pytest.MonkeyPatch) -> None:
    buffer = io.StringIO()
    monkeypatch.setattr(
        progress, "stderr_console", lambda: Console(file=buffer, force_terminal=True)
    )
    monkeypatch.setattr(progress, "SHOW_AFTER", 3600)
    run("analyze", "--latest", "--db", str(traced_file.path))
    assert buffer.getvalue() == ""
