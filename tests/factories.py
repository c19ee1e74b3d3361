"""Test data from factory functions with keyword overrides."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from idservice.auth.levels import AMR_PASSWORD, acr_for
from idservice.db import db_session
from idservice.models.base import utcnow
from idservice.models.residents import Resident, ResidentSession
from idservice.services.residents import create_resident as service_create_resident

DEFAULT_PASSWORD = "correct horse battery staple"


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
