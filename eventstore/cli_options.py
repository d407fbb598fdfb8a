"""What every command group shares: the options (so ``--db`` and ``--latest`` read alike in
every ``--help``) and the one-line error."""

from __future__ import annotations

from typing import Annotated

import typer

from eventstore.errors import EventStoreError

DbOption = Annotated[
    str,
    typer.Option(
        "--db",
        help="Run database: a DuckDB file, a Parquet dataset directory (read-only), or a "
        "PostgreSQL URL (postgresql+psycopg://user@host:5432/db).",
        show_default=True,
    ),
]
LatestOption = Annotated[bool, typer.Option("--latest", help="Use the most recent run.")]


def fail(error: Exception) -> typer.Exit:
    """Print one clear line for an error of ours and return the exit to raise."""
    text = " ".join(str(error).split()) or type(error).__name__
    typer.secho(f"error: {text}", err=True, fg=typer.colors.RED)
    return typer.Exit(code=1 if isinstance(error, EventStoreError) else 2)
