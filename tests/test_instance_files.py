"""The instance folder and what it holds (database, secret key, passphrase) are private.

They are created with their final mode (folder 0700, files 0600) rather than changed
afterwards, so there is no moment when another user on the machine can open them: the
tests run with the usual umask (022) and a ``chmod`` that does nothing, so only the mode
given at creation counts.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from idservice import db
from idservice.cards.issuer_keys import DEV_PASSPHRASE_FILE, key_protection
from idservice.cli import main
from idservice.config import Settings


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def usual_umask(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Umask 022 (files readable by everyone unless created otherwise), and no chmod."""
    monkeypatch.setattr(Path, "chmod", lambda self, mode, **kwargs: None)
    monkeypatch.setattr(os, "chmod", lambda path, mode, **kwargs: None)
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.fixture
def embedded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Settings from the environment with the embedded defaults in a fresh folder."""
    instance = tmp_path / "instance"
    for name in (
        "KENTCARD_DATABASE_URL",
        "KENTCARD_SECRET_KEY",
        "KENTCARD_SECRET_KEY_FILE",
        "KENTCARD_ISSUER_KEY_HOOK",
        "KENTCARD_ISSUER_PASSPHRASE",
        "KENTCARD_ISSUER_PASSPHRASE_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KENTCARD_INSTANCE_PATH", str(instance))
    return instance


def test_db_upgrade_on_the_embedded_default_creates_private_files(
    usual_umask: None, embedded: Path
) -> None:
    result = CliRunner().invoke(main, ["db", "upgrade"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert mode(embedded) == 0o700
    assert mode(embedded / "secret_key") == 0o600
    assert mode(embedded / "kentcard.db") == 0o600


def test_the_app_engine_creates_the_database_and_its_wal_private(
    usual_umask: None, tmp_path: Path
) -> None:
    path = tmp_path / "new-folder" / "app.db"
    engine = db.make_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
            conn.execute(text("INSERT INTO t VALUES (1)"))
            # SQLite gives the write-ahead log and its index the database file's mode.
            for extra in (path.with_name("app.db-wal"), path.with_name("app.db-shm")):
                assert extra.exists() and mode(extra) == 0o600
    finally:
        engine.dispose()
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700


def test_the_secret_key_file_is_created_private(usual_umask: None, embedded: Path) -> None:
    settings = Settings.from_env()
    assert settings.secret_key == (embedded / "secret_key").read_text().strip()
    assert mode(embedded) == 0o700
    assert mode(embedded / "secret_key") == 0o600
    assert Settings.from_env().secret_key == settings.secret_key  # kept across restarts


def test_the_development_issuer_passphrase_is_created_private(
    usual_umask: None, embedded: Path
) -> None:
    protection = key_protection(embedded, create_development=True)
    assert protection.passphrase
    assert mode(embedded) == 0o700
    assert mode(embedded / DEV_PASSPHRASE_FILE) == 0o600


def test_an_existing_database_file_is_left_alone(usual_umask: None, tmp_path: Path) -> None:
    path = tmp_path / "kept.db"
    path.write_bytes(b"")
    before = mode(path)
    db.create_private_sqlite_file(f"sqlite:///{path}")
    assert mode(path) == before
    db.create_private_sqlite_file("sqlite://")  # in memory: nothing to create
    db.create_private_sqlite_file("postgresql+psycopg://postgres@127.0.0.1/x")
