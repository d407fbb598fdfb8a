"""The README's examples work as written: its Python blocks and its query, picture and Parquet
commands run against real backtest runs."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from eventstore import open_store, queries
from eventstore.cli import app
from eventstore.store.parquet import export_runs

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README, flags=re.DOTALL)


def quickstart() -> list[str]:
    section = README.split("## Quickstart", 1)[1]
    block = section.split("```", 2)[1]
    return [line for line in block.splitlines() if line.strip()]


def test_quickstart_is_exactly_two_commands() -> None:
    commands = quickstart()
    assert len(commands) == 2
    assert "eventstore run --config config/multi_strategy_test.yaml" in commands[0]
    assert "runs.duckdb" in commands[0]
    assert commands[1].endswith("python -m pytest")


def _trace_demo(folder: Path) -> None:
    """A short demo backtest into ``folder/runs.duckdb``, as the Quickstart leaves one."""
    backtest = subprocess.run(
        [sys.executable, "-m", "eventstore", "run", "--config",
         str(ROOT / "config" / "multi_strategy_test.yaml"), "--bars", "150", "--quiet"],
        cwd=folder, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert backtest.returncode == 0, backtest.stderr


@pytest.mark.parametrize("index", range(len(python_blocks())))
def test_python_examples_run(tmp_path: Path, index: int) -> None:
    _trace_demo(tmp_path)
    shutil.copytree(ROOT / "config", tmp_path / "config")  # examples name config/*.yaml
    example = subprocess.run(
        [sys.executable, "-c", python_blocks()[index]],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert example.returncode == 0, example.stderr
    assert example.stdout.strip()


def test_python_examples_run_one_after_another(tmp_path: Path) -> None:
    """A reader runs the blocks top to bottom in one directory after the Quickstart: no block
    may leave ``runs.duckdb`` in a state a later one fails on (``latest`` a run without
    trades). The sweep's block writes only ``sweep.duckdb`` and runs alone above."""
    _trace_demo(tmp_path)
    for block in python_blocks():
        if "run_sweep" in block:
            continue
        example = subprocess.run(
            [sys.executable, "-c", block], cwd=tmp_path, capture_output=True, text=True
        )
        assert example.returncode == 0, (block, example.stderr)


def shell_commands(heading: str, block: int = 0) -> list[str]:
    """The ``eventstore`` lines of a section's ``block``-th plain code block, comments cut."""
    section = README.split(heading, 1)[1].split("\n## ", 1)[0]
    text = re.findall(r"```\n(.*?)```", section, flags=re.DOTALL)[block]
    lines = [line for line in text.splitlines() if line.startswith("eventstore ")]
    return [line.split("  #")[0].strip() for line in lines]


README_COMMANDS = [
    *shell_commands("## Asking questions"),
    *shell_commands("## Seeing a run"),
    *(c for c in shell_commands("## Parquet datasets", 1) if "postgresql" not in c),
]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """A directory holding runs.duckdb with two demo runs (each of over 1 234 events), and
    their run ids, older first."""
    where = tmp_path_factory.mktemp("readme")
    db = str(where / "runs.duckdb")
    config = str(ROOT / "config" / "multi_strategy_test.yaml")
    for _ in range(2):
        argv = ["run", "--config", config, "--bars", "400", "--quiet", "--db", db]
        result = CliRunner().invoke(app, argv)
        assert result.exit_code == 0, result.stderr
    with open_store(db, read_only=True) as store:
        export_runs(store, where / "lake")  # what the Parquet examples read
    newest, older = queries.list_runs(db).column("run_id").to_pylist()
    return where, older, newest


@pytest.mark.parametrize("command", README_COMMANDS)
def test_shell_examples_run(
    two_runs: tuple[Path, str, str], command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each ``eventstore`` line of the query, picture and Parquet examples, with real ids for
    the README's placeholders, in the directory of the runs."""
    where, run_a, run_b = two_runs
    monkeypatch.chdir(where)
    tag = run_a.rsplit("-", 1)[1]
    text = command.replace("3k9x2m7q1d", tag).replace("RUN_A", run_a).replace("RUN_B", run_b)
    argv = [run_a if word == "RUN" else word for word in shlex.split(text)[1:]]
    result = CliRunner().invoke(app, argv, env={"COLUMNS": "80"})
    assert result.exit_code == 0, (argv, result.stdout, result.stderr)
