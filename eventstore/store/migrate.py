"""Alembic, driven from Python: used by every store's schema upgrade and ``eventstore migrate``.

It knows only SQLAlchemy connections, not stores, so the store modules import it and it imports
none of them.
"""

from __future__ import annotations

from importlib import resources
from typing import Protocol

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy.engine import Connection

MIGRATIONS = "eventstore.migrations"


class Connectable(Protocol):
    """Anything that hands out SQLAlchemy connections (a ``Store`` does)."""

    def connect(self) -> Connection: ...


def _config() -> Config:
    """Alembic's scripts, found through the installed package ``eventstore.migrations``
    (the repository's ``migrations/``), never through the working directory."""
    config = Config()
    config.set_main_option("script_location", str(resources.files(MIGRATIONS)))
    return config


def is_known_revision(revision: str) -> bool:
    try:
        return ScriptDirectory.from_config(_config()).get_revision(revision) is not None
    except CommandError:
        return False


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_config()).get_current_head()


def upgrade(store: Connectable, revision: str = "head") -> None:
    config = _config()
    with store.connect() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
        conn.commit()


def downgrade(store: Connectable, revision: str = "base") -> None:
    config = _config()
    with store.connect() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)
        conn.commit()
