"""Test data from factory functions with keyword overrides."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import date
from typing import Any

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient

from idservice.auth.levels import AMR_PASSWORD, acr_for
from idservice.db import db_session
from idservice.models.base import utcnow
from idservice.models.residents import Resident, ResidentSession
from idservice.models.staff import StaffMember, StaffSession
from idservice.services.residents import create_resident as service_create_resident
from idservice.staff.permissions import Role
from idservice.staff.staff_accounts import create_staff as service_create_staff

DEFAULT_PASSWORD = "correct horse battery staple"
STAFF_PASSWORD = "staff password for the tests"


def create_resident(**overrides: Any) -> Resident:
    """A resident with a confirmed email and password ``DEFAULT_PASSWORD``; commits."""
    values: dict[str, Any] = {
        "given_name": "Ada",
        "family_name": "Lovelace",
        "date_of_birth": date(1956, 12, 10),
        "address_line_1": "Sessions House",
        "town": "Maidstone",
        "postcode": "ME14 1XQ",
        "email": f"resident-{secrets.token_hex(4)}@example.com",
        "password": DEFAULT_PASSWORD,
        "actor_type": "system",
        "actor_id": "tests",
        "channel": "system",
    }
    confirmed = overrides.pop("email_confirmed", True)
    values.update(overrides)
    resident = service_create_resident(**values)
    if confirmed:
        resident.email_verified_at = utcnow()
    db_session.commit()
    return resident


def create_staff(**overrides: Any) -> StaffMember:
    """A Gateway officer with password ``STAFF_PASSWORD`` and an authenticator app; commits.

    ``authenticator=False`` leaves the app to be set up at the first sign-in.
    """
    authenticator = overrides.pop("authenticator", True)
    values: dict[str, Any] = {
        "email": f"staff-{secrets.token_hex(4)}@kent.example",
        "name": "Pat Officer",
        "role": Role.GATEWAY_OFFICER,
        "password": STAFF_PASSWORD,
    }
    extra = {k: overrides.pop(k) for k in ("active",) if k in overrides}
    values.update(overrides)
    values["role"] = Role(values["role"])
    staff = service_create_staff(**values)
    for name, value in extra.items():
        setattr(staff, name, value)
    if authenticator:
        staff.totp_secret = pyotp.random_base32()
        staff.totp_enabled_at = utcnow()
    db_session.commit()
    return staff


def sign_in_staff(app: Flask, client: FlaskClient, staff: StaffMember) -> StaffSession:
    """Give ``client`` a staff session without the sign-in pages (tested on their own)."""
    with app.app_context():
        record = StaffSession(id=secrets.token_urlsafe(32), staff_id=staff.id, auth_time=utcnow())
        db_session.add(record)
        db_session.commit()
    with client.session_transaction() as sess:
        sess["staff_sid"] = record.id
    return record


def sign_in_client(
    app: Flask, client: FlaskClient, resident: Resident, amr: list[str] | None = None
) -> ResidentSession:
    """Give ``client`` a signed-in session without going through the sign-in page."""
    amr = amr or AMR_PASSWORD
    with app.app_context():
        record = ResidentSession(
            id=secrets.token_urlsafe(32),
            resident_id=resident.id,
            acr=acr_for(amr),
            amr=list(amr),
            auth_time=utcnow(),
        )
        db_session.add(record)
        db_session.commit()
    with client.session_transaction() as sess:
        sess["sid"] = record.id
    return record


@pytest.fixture
def resident_factory(app_ctx: Flask) -> Callable[..., Resident]:
    return create_resident
