"""Our `queries` and `migrations` install inside the `eventstore` package: a user's project
with its own `migrations/` (every Alembic or Django project) and `queries/` packages neither
breaks eventstore nor gets our modules in place of its own."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A directory holding a user's own `migrations` and `queries` packages."""
    for name in ("migrations", "queries"):
        package = tmp_path / name
        package.mkdir()
        (package / "__init__.py").write_text(f"OWNER = 'user {name}'\n")
    return tmp_path


def python(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_open_store_beside_a_projects_own_migrations(project: Path) -> None:
    result = python("from eventstore import open_store; open_store('x.duckdb')", project)
    assert result.returncode == 0, result.stderr
    assert (project / "x.duckdb").exists()


def test_our_queries_and_theirs_side_by_side(project: Path) -> None:
    result = python(
        """
        import queries, migrations
        from eventstore import open_store
        from eventstore import queries as ours
        from eventstore import migrations as our_migrations

        open_store('x.duckdb').close()
        print(queries.OWNER, migrations.OWNER, sep=' / ')
        print(ours.list_runs('x.duckdb').num_rows, ours.__name__, our_migrations.__name__)
        """,
        project,
    )
    assert result.returncode == 0, result.stderr
    theirs, mine = result.stdout.strip().splitlines()
    assert theirs == "user queries / user migrations"
    assert mine == "0 eventstore.queries eventstore.migrations"


def test_the_package_ships_its_type_hints() -> None:
    """PEP 561: without ``py.typed`` in the installed package, mypy treats every eventstore name
    in a user's code as ``Any`` ("missing library stubs or py.typed marker")."""
    import tomllib
    from importlib import resources

    assert resources.files("eventstore").joinpath("py.typed").is_file()
    root = Path(__file__).resolve().parents[2]
    setuptools = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "py.typed" in setuptools["package-data"]["eventstore"]
