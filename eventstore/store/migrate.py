"""Alembic, driven from Python: used by ``open_store`` and ``eventstore migrate``."""

from __future__ import annotations

from importlib import resources

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError

from eventstore.store.store import Store

MIGRATIONS = "eventstore.migrations"


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


def upgrade(store: Store, revision: str = "head") -> None:
    config = _config()
    with store.connect() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
        conn.commit()


def downgrade(store: Store, revision: str = "base") -> None:
    config = _config()
    with store.connect() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)
        conn.commit()
