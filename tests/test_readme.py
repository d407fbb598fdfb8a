"""The README's examples work as written: its Python blocks run against a real backtest run."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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


@pytest.mark.parametrize("index", range(len(python_blocks())))
def test_python_examples_run(tmp_path: Path, index: int) -> None:
    backtest = subprocess.run(
        [sys.executable, "-m", "eventstore", "run", "--config",
         str(ROOT / "config" / "multi_strategy_test.yaml"), "--bars", "150", "--quiet"],
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert backtest.returncode == 0, backtest.stderr
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
