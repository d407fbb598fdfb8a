"""A PostgreSQL URL with a password works everywhere a URL does, and the password appears in no
output: not in a sweep's table or hints, not in ``runs`` of an empty store, not in what
``import`` says. A sweep's workers connect with the URL as given (its password too), not with
the one messages show (``user:***@host``).

On a server that ignores passwords (``trust``) the workers' half can't fail; ``.ci/run`` starts
one that checks them."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
import yaml
from typer.testing import CliRunner

from eventstore import open_store
from eventstore.cli import app
from eventstore.store.parquet import export_runs

from ..sweep.conftest import SWEEP

runner = CliRunner()
CONFIG = str(Path(__file__).resolve().parents[2] / "config" / "trend_following.yaml")
PASSWORD = "pw-never-printed"


def _with_password(url: str) -> tuple[str, str]:
    """``url`` with a password (its own if it has one, else one a trust server ignores), and
    that password."""
    parsed = sa.make_url(url)
    password = parsed.password or PASSWORD
    return parsed.set(password=password).render_as_string(hide_password=False), str(password)


def test_a_sweep_into_postgresql_with_a_password_completes_and_never_prints_it(
    tmp_path: Path, pg_url: str
) -> None:
    url, password = _with_password(pg_url)
    sweep = {**SWEEP, "grid": {"seed": [1, 2]}}
    sweep_file = tmp_path / "sweep.yaml"
    sweep_file.write_text(yaml.safe_dump(sweep, sort_keys=False), encoding="utf-8")

    result = runner.invoke(app, ["sweep", "-c", str(sweep_file), "-w", "2", "--db", url, "-q"])

    assert result.exit_code == 0, result.output
    assert "2 runs, 2 completed" in result.output
    assert f"--db {sa.make_url(url).render_as_string(hide_password=True)}" in result.output
    assert password not in result.output


def test_runs_and_import_name_a_postgresql_store_without_its_password(
    tmp_path: Path, pg_url: str
) -> None:
    url, password = _with_password(pg_url)
    migrated = runner.invoke(app, ["migrate", "--db", url, "-q"])
    assert migrated.exit_code == 0, migrated.output
    assert password not in migrated.output
    empty = runner.invoke(app, ["runs", "--db", url])
    assert empty.exit_code == 0, empty.output
    assert "holds no runs yet" in empty.output
    assert password not in empty.output

    db = tmp_path / "runs.duckdb"
    traced = runner.invoke(app, ["run", "-c", CONFIG, "--bars", "50", "--db", str(db), "-q"])
    assert traced.exit_code == 0, traced.output
    with open_store(db, read_only=True) as store:
        export_runs(store, tmp_path / "lake")
    imported = runner.invoke(app, ["import", str(tmp_path / "lake"), "--db", url, "-q"])
    assert imported.exit_code == 0, imported.output
    assert "imported 1 run from" in imported.output
    assert password not in imported.output
