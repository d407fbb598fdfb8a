"""The ``eventstore`` command line: parses arguments, opens a store, calls one library function
and renders the result. No logic of its own lives here."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from eventstore import __version__
from eventstore.errors import EventStoreError
from eventstore.store import DEFAULT_DB

app = typer.Typer(
    help="Trace event-driven runs into DuckDB and ask why, where the time went, and what changed.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DbOption = Annotated[
    Path, typer.Option("--db", help="Run database (DuckDB file).", show_default=True)
]


def fail(error: Exception) -> typer.Exit:
    """Print one clear line for an error of ours and return the exit to raise."""
    typer.secho(f"error: {error}", err=True, fg=typer.colors.RED)
    return typer.Exit(code=1 if isinstance(error, EventStoreError) else 2)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"eventstore {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """eventstore: trace every event, store its lineage, query it with SQL."""


@app.command()
def migrate(db: DbOption = Path(DEFAULT_DB)) -> None:
    """Create the run database's schema, or upgrade it to this version's."""
    from eventstore.store import open_store
    from eventstore.store.schema import SCHEMA_REVISION

    try:
        with open_store(db):
            pass
    except EventStoreError as exc:
        raise fail(exc) from None
    typer.echo(f"{db}: schema at revision {SCHEMA_REVISION}")
