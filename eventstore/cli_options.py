"""Options every command group shares, defined once so ``--db`` and ``--latest`` read alike in
every ``--help``."""

from __future__ import annotations

from typing import Annotated

import typer

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
