"""``--help`` at 80 columns for every command: flags show no value (they take none), and the
text reflows into even paragraphs however its docstring was wrapped in the source."""

from __future__ import annotations

import re
import textwrap

import pytest
import typer
from typer.testing import CliRunner

from eventstore.cli import app

runner = CliRunner()
WIDTH = 80


def command_paths() -> list[list[str]]:
    """Every group and command of the CLI, as the words that name it."""
    paths: list[list[str]] = []

    def walk(command: object, path: list[str]) -> None:
        paths.append(path)
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return paths


PATHS = command_paths()


def help_of(path: list[str]) -> str:
    result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": str(WIDTH)})
    assert result.exit_code == 0, result.stdout
    return result.stdout


def test_every_command_is_listed() -> None:
    names = {" ".join(path) for path in PATHS}
    assert {"", "run", "why", "compare", "export", "sweep", "plot", "plot latency"} <= names


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "eventstore")
def test_flags_show_no_value_and_lines_fit(path: list[str]) -> None:
    out = help_of(path)
    assert "<bool>" not in out and "BOOLEAN" not in out, out
    assert all(len(line) <= WIDTH for line in out.splitlines()), out
    assert not re.search(r"…\s*│$", out, re.MULTILINE), out  # no help text cut to fit
    assert re.search(r"--help\s+Show this message and exit\.", out), out


WRITE_TO = (
    "--db <str> Run database to write: a DuckDB file or a PostgreSQL URL, not a Parquet "
    "dataset (read-only). [default: runs.duckdb]"
)


@pytest.mark.parametrize("command", ["run", "sweep", "migrate", "import"])
def test_commands_that_write_take_no_parquet_dataset(command: str) -> None:
    """A Parquet dataset is read-only: a command that writes says it can't take one (`import`
    loads a dataset into a database); the commands that read take one."""
    text = " ".join(help_of([command]).replace("│", " ").split())
    assert WRITE_TO in text and "Parquet dataset directory" not in text, text
    reader = " ".join(help_of(["runs"]).replace("│", " ").split())
    assert "a Parquet dataset directory (read-only)" in reader and WRITE_TO not in reader


def test_a_flag_reads_as_a_switch() -> None:
    out = help_of(["run"])
    assert re.search(r"--quiet\s+-q\s+No progress bar", out), out
    assert re.search(r"--no-trace\s+Run without tracing", out), out
    assert re.search(r"--version\s+Print the version\.", help_of([])), help_of([])


def paragraphs(out: str) -> list[list[str]]:
    """The help text between the usage line and the first panel, as paragraphs of lines."""
    text = out.split("Usage:", 1)[1].split("╭", 1)[0]
    lines = [line.strip() for line in text.splitlines()[1:]]
    blocks = "\n".join(lines).strip().split("\n\n")
    return [block.splitlines() for block in blocks if block]


def filled(lines: list[str], width: int) -> bool:
    """The lines are ``lines`` joined and wrapped greedily at ``width``: no line ends early."""
    return lines == textwrap.wrap(" ".join(lines), width, break_on_hyphens=False)


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "eventstore")
def test_help_text_reflows_into_even_paragraphs(path: list[str]) -> None:
    out = help_of(path)
    for lines in paragraphs(out):
        assert filled(lines, WIDTH - 2), out  # one space of padding either side


def test_the_command_list_reflows_too() -> None:
    """Each command's summary in ``eventstore --help`` wraps evenly within its column."""
    out = help_of([])
    panel = out.split("Commands")[1].splitlines()[1:]
    entries: list[list[str]] = []
    for line in panel:
        if not line.startswith("│"):
            break
        inner = line[1:-1].rstrip()
        name, text = inner[:10].strip(), inner[10:].strip()
        if name:
            entries.append([text])
        else:
            entries[-1].append(text)
    column = len(panel[0]) - 2 - 11  # between the name column and the right border's padding
    assert len(entries) >= 15
    ragged = [lines for lines in entries if not filled(lines, column)]
    assert not ragged, out


@pytest.mark.parametrize("path", [["latency"], ["plot", "latency"]])
def test_by_names_every_grouping_and_its_column_alias(path: list[str]) -> None:
    """`--by event_type` is accepted because the output names the column so: help says so."""
    words = " ".join(re.sub(r"[│╭╮╰╯─]", " ", help_of(path)).split())
    assert re.search(r"--by <str> [^.]*type \(or event_type[^)]*\), handler or source\.", words)


def test_help_says_what_each_exit_code_means() -> None:
    said = " ".join(re.sub(r"[│╭╮╰╯─]", " ", help_of([])).split())
    assert (
        "Exit codes: 0 done; 1 an error, named with its fix; 2 a usage error (an unknown "
        "command or option, a value of the wrong kind); 130 stopped by Ctrl-C." in said
    )


def test_a_bad_option_value_is_exit_code_2_in_80_columns() -> None:
    result = runner.invoke(app, ["runs", "--limit", "many"], env={"COLUMNS": str(WIDTH)})
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert all(len(line) <= WIDTH for line in result.output.splitlines())
    assert "Invalid value for '--limit'" in result.output
