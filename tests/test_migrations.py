"""The models and the migrations agree, on whichever database the suite runs against."""

from __future__ import annotations

import itertools
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask
from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from entitlements.ledger.tables import LedgerBase
from idservice import migrate, sealed
from idservice.models import Base, Resident, StaffMember
from idservice.sealed import SealError, SecretBox
from idservice.services import totp


def test_models_match_migrations(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, [Base.metadata, LedgerBase.metadata])
    finally:
        engine.dispose()
    assert diff == [], f"models and migrations differ: {diff}"


def test_head_file_names_the_newest_revision() -> None:
    head_file = Path(migrate.MIGRATIONS / "HEAD").read_text().strip()
    assert head_file == migrate.current_head()


def test_revision_ids_are_sequential() -> None:
    script = ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
    revisions = list(reversed(list(script.walk_revisions())))
    assert [r.revision for r in revisions] == [f"{i:04d}" for i in range(1, len(revisions) + 1)]
    for previous, current in itertools.pairwise(revisions):
        assert current.down_revision == previous.revision


@pytest.fixture
def empty_database_url(tmp_path: Path) -> Iterator[str]:
    """A database of its own, on the same kind of server as the suite's."""
    base = os.environ.get("KENTCARD_TEST_DATABASE_URL")
    if not base:
        yield f"sqlite:///{tmp_path / 'migrations.db'}"
        return
    server = make_url(base)
    name = f"kentcard_migrations_{secrets.token_hex(4)}"
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
_AT = "2025-01-01 10:00:00"


def _secrets_in(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        resident = conn.execute(text("SELECT totp_secret FROM residents")).scalar_one()
        staff = conn.execute(text("SELECT totp_secret FROM staff_members")).scalar_one()
    return {"residents": resident, "staff_members": staff}


def test_0012_seals_existing_authenticator_secrets_and_codes_still_work(
    empty_database_url: str,
) -> None:
    url = empty_database_url
    migrate.upgrade(url, "0011")
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO residents (id, email, given_name, family_name, date_of_birth, "
                    "address_line_1, town, postcode, language, alternative_formats, "
                    "text_relay, status, identity_level, totp_secret, totp_enabled_at, "
                    "created_at, updated_at) VALUES ('r-1', 'a@example.com', 'A', 'B', "
                    "'1950-03-04', '1 Road', 'Margate', 'CT9 1AA', 'en', '[]', false, "
                    "'active', 'self-declared', :secret, :at, :at, :at)"
                ),
                {"secret": TOTP_SECRET, "at": _AT},
            )
            conn.execute(
                text(
                    "INSERT INTO staff_members (id, email, name, role, password_hash, "
                    "totp_secret, totp_enabled_at, active, created_at) VALUES ('s-1', "
                    "'s@kent.example', 'S', 'gateway-officer', 'x', :secret, :at, true, :at)"
                ),
                {"secret": TOTP_SECRET, "at": _AT},
            )
        key = secrets.token_urlsafe(32)
        migrate.upgrade(url, "0012", secret_key=key)

        stored = _secrets_in(engine)
        box = SecretBox(key)
        for table, value in stored.items():
            assert value.startswith(f"v1.{box.key_id}.") and TOTP_SECRET not in value
            assert box.open(value, f"{table}.totp_secret") == TOTP_SECRET
        with pytest.raises(SealError):  # the wrong key opens nothing
            SecretBox(secrets.token_urlsafe(32)).open(stored["residents"], "residents.totp_secret")

        # Through the models, as the app reads them (so at the newest revision: later ones
        # add columns the models know): a code from the app is still right.
        migrate.upgrade(url, secret_key=key)
        app = Flask("migration-check")
        sealed.init_app(app, key)
        with app.app_context(), Session(engine) as session:
            resident = session.get(Resident, "r-1")
            staff = session.get(StaffMember, "s-1")
            assert resident is not None and staff is not None
            code = pyotp.TOTP(TOTP_SECRET).now()
            assert totp.verify_and_consume(resident, code)
            assert totp.verify_and_consume(staff, code)
            assert not totp.verify_and_consume(resident, "000000")

        migrate.downgrade(url, "0011", secret_key=key)
        assert _secrets_in(engine) == {"residents": TOTP_SECRET, "staff_members": TOTP_SECRET}
    finally:
        engine.dispose()


def _insert_resident(conn: Any, resident_id: str, status: str) -> None:
    conn.execute(
        text(
            "INSERT INTO residents (id, given_name, family_name, date_of_birth, "
            "address_line_1, town, postcode, language, alternative_formats, text_relay, "
            "status, identity_level, created_at, updated_at) VALUES (:id, 'A', 'B', "
            "'1950-03-04', '1 Road', 'Margate', 'CT9 1AA', 'en', '[]', false, :status, "
            "'self-declared', :at, :at)"
        ),
        {"id": resident_id, "status": status, "at": _AT},
    )


def test_0016_checks_resident_statuses_and_the_merged_pointer(empty_database_url: str) -> None:
    url = empty_database_url
    migrate.upgrade(url, "0012")
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            for status in ("active", "closed", "deceased", "erased"):
                _insert_resident(conn, f"r-{status}", status)
        migrate.upgrade(url, "0016")
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT id, status, merged_into_id FROM residents")).all()
        assert sorted(rows) == sorted(
            (f"r-{s}", s, None) for s in ("active", "closed", "deceased", "erased")
        )
        for statement in (
            "UPDATE residents SET status = 'gone' WHERE id = 'r-active'",
            "UPDATE residents SET status = 'merged' WHERE id = 'r-active'",
            "UPDATE residents SET merged_into_id = 'r-closed' WHERE id = 'r-active'",
        ):
            with pytest.raises(IntegrityError), engine.begin() as conn:
                conn.execute(text(statement))
        with engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE residents SET status = 'merged', merged_into_id = 'r-active' "
                    "WHERE id = 'r-closed'"
                )
            )
        with pytest.raises(RuntimeError, match="undo the merges"):
            migrate.downgrade(url, "0015")
        with engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE residents SET status = 'closed', merged_into_id = NULL "
                    "WHERE id = 'r-closed'"
                )
            )
        migrate.downgrade(url, "0015")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM residents")).scalar_one() == 4
    finally:
        engine.dispose()
