"""Running the Alembic migrations in ``migrations/`` from code and the command line."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config(str(MIGRATIONS / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def _with_keys(config: Config, secret_key: str | None, fallbacks: tuple[str, ...]) -> Config:
    """Hand the app's secret key to migrations that seal or open secrets (0012)."""
    if secret_key:
        config.attributes["kentcard_secret_key"] = secret_key
        config.attributes["kentcard_secret_key_fallbacks"] = fallbacks
    return config


def upgrade(
    database_url: str,
    revision: str = "head",
    *,
    secret_key: str | None = None,
    secret_key_fallbacks: tuple[str, ...] = (),
) -> None:
    """Migrate to ``revision``; an embedded SQLite file is created private (0600)."""
    from idservice.db import create_private_sqlite_file

    create_private_sqlite_file(database_url)
    config = _with_keys(alembic_config(database_url), secret_key, secret_key_fallbacks)
    command.upgrade(config, revision)


def downgrade(
    database_url: str,
    revision: str,
    *,
    secret_key: str | None = None,
    secret_key_fallbacks: tuple[str, ...] = (),
) -> None:
    config = _with_keys(alembic_config(database_url), secret_key, secret_key_fallbacks)
    command.downgrade(config, revision)


def current_head() -> str:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    head = script.get_current_head()
    assert head is not None
    return head
