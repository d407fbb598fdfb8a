"""How a run database is named: the default file, and whether a name is a URL or a path.
Kept apart from the backends (DuckDB, SQLAlchemy) so the command line can show a default or
a message without importing them."""

from __future__ import annotations

import os
import re

DEFAULT_DB = "runs.duckdb"


def is_url(target: str | os.PathLike[str]) -> bool:
    """Whether ``target`` names a database by URL (``scheme://…``) rather than a file path."""
    return "://" in os.fspath(target)


def without_password(target: str | os.PathLike[str]) -> str:
    """A path as given, or a URL (even one that does not parse) with its password
    (``user:password@``) hidden: messages and the commands they suggest never show one."""
    return re.sub(r"(://[^/@:]*:)[^/]*@", r"\1***@", os.fspath(target))
