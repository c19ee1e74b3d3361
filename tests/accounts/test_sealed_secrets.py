"""Authenticator app secrets are sealed at rest, open after a key change with the old key
as a fallback, are sealed again by ``kentcard maintenance reseal``, and fail closed."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from typing import Any

import pyotp
import pytest
from flask import Flask
from sqlalchemy import text

from idservice import sealed
from idservice.db import db_session
from idservice.models import AuditRecord, Resident
from idservice.sealed import EXTENSION, SecretBox
from idservice.services import totp
from idservice.services.sealed_secrets import reseal
from tests.accounts.conftest import in_app
from tests.factories import create_staff

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def _stored(app: Flask, table: str) -> list[str]:
    with in_app(app):
        rows = db_session.execute(
            text(f"SELECT totp_secret FROM {table} WHERE totp_secret IS NOT NULL")
        )
        return [str(r.totp_secret) for r in rows]


def _use_key(app: Flask, monkeypatch: pytest.MonkeyPatch, key: str, *fallbacks: str) -> None:
    monkeypatch.setitem(app.extensions, EXTENSION, SecretBox(key, fallbacks))


def test_secrets_are_stored_sealed_and_read_plain(
    app: Flask, make_resident: Callable[..., Resident], reload: Any
) -> None:
    resident = make_resident(totp_secret=SECRET)
    with in_app(app):
        create_staff().totp_secret = SECRET
        db_session.commit()
    box = app.extensions[EXTENSION]
    for table in ("residents", "staff_members"):
        [stored] = _stored(app, table)
        assert SECRET not in stored and stored.startswith(f"v1.{box.key_id}.")
        assert box.open(stored, f"{table}.totp_secret") == SECRET
    assert reload(resident.id).totp_secret == SECRET
    # Sealed for its column: the same text in the other column does not open.
    with pytest.raises(sealed.SealError):
        box.open(_stored(app, "residents")[0], "staff_members.totp_secret")


def test_after_a_key_change_the_old_key_opens_and_reseal_moves_to_the_new(
    app: Flask,
    make_resident: Callable[..., Resident],
    reload: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    old_key, new_key = app.config["SECRET_KEY"], secrets.token_urlsafe(32)
    resident = make_resident(totp_secret=SECRET)
    old_id = SecretBox(old_key).key_id
    assert _stored(app, "residents")[0].startswith(f"v1.{old_id}.")

    _use_key(app, monkeypatch, new_key, old_key)
    stored = reload(resident.id)
    assert stored.totp_secret == SECRET  # the fallback opens it
    with in_app(app):
        report = reseal()
        entry = db_session.query(AuditRecord).filter_by(action="maintenance.resealed").one()
        assert entry.details["resealed"] == 1
    assert report.resealed == 1
    new_id = SecretBox(new_key).key_id
    assert _stored(app, "residents")[0].startswith(f"v1.{new_id}.")
    with in_app(app):
        assert reseal().resealed == 0  # nothing left to do

    _use_key(app, monkeypatch, new_key)  # the old key removed: still opens
    assert reload(resident.id).totp_secret == SECRET


def test_a_secret_that_does_not_open_fails_closed(
    app: Flask,
    make_resident: Callable[..., Resident],
    reload: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from idservice.models.base import utcnow

    resident = make_resident(totp_secret=SECRET, totp_enabled_at=utcnow())
    _use_key(app, monkeypatch, secrets.token_urlsafe(32))  # the key was lost
    with caplog.at_level(logging.ERROR), in_app(app):
        stored = db_session.get(Resident, resident.id)
        assert stored is not None and stored.totp_secret is None
        assert not totp.verify_and_consume(stored, pyotp.TOTP(SECRET).now())
    assert "residents.totp_secret cannot be read" in caplog.text
    assert SECRET not in caplog.text
