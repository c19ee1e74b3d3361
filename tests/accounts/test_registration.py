"""Creating an account and confirming the email address."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from argon2 import Type, extract_parameters
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from idservice.db import db_session
from idservice.models import AuditRecord, Resident
from tests.accounts.conftest import in_app, link_in, submit, text
from tests.factories import DEFAULT_PASSWORD

GOOD = {
    "given_name": "Grace",
    "family_name": "Hopper",
    "date_of_birth-day": "2",
    "date_of_birth-month": "6",
    "date_of_birth-year": "1948",
    "address_line_1": "3 Marine Parade",
    "address_line_2": "",
    "town": "Folkestone",
    "postcode": "ct20 1px",
    "email": "Grace.Hopper@Example.com",
    "phone": "07700 900 982",
    "password": DEFAULT_PASSWORD,
    "password_confirm": DEFAULT_PASSWORD,
}


def register(client: FlaskClient, **changes: Any) -> Any:
    return submit(client, "/register", {**GOOD, **changes})


def _residents(app: Flask) -> list[Resident]:
    with in_app(app):
        rows = list(db_session.scalars(select(Resident)))
        db_session.expunge_all()
        return rows


def test_register_creates_an_unconfirmed_account_and_sends_a_link(
    app: Flask, client: FlaskClient, outbox: Callable[..., Any]
) -> None:
    response = register(client)
    assert response.status_code == 302
    assert response.headers["Location"] == "/register/check-your-email"
    [resident] = _residents(app)
    assert resident.email == "grace.hopper@example.com"
    assert resident.postcode == "CT20 1PX"
    assert resident.phone == "07700900982"
    assert resident.date_of_birth == date(1948, 6, 2)
    assert resident.email_verified_at is None
    assert resident.password_hash and resident.password_hash.startswith("$argon2id$")
    [mail] = outbox("confirm_email")
    assert mail.recipient == "grace.hopper@example.com"
    assert "Grace" not in mail.body_text  # bodies carry no personal data
    with in_app(app):
        audit = db_session.scalar(select(AuditRecord).where(AuditRecord.resident_id == resident.id))
        assert audit is not None and audit.action == "resident.created"
        assert audit.channel == "web" and audit.actor_id == resident.id
        assert "Grace" not in str(audit.details) and "postcode" in audit.details["fields"]


@pytest.mark.production_hashing
def test_passwords_are_stored_with_argon2id_at_rfc_9106_cost(
    app: Flask, client: FlaskClient
) -> None:
    # RFC 9106's second recommended option: 3 passes over 64 MiB with 4 lanes.
    assert register(client).status_code == 302
    [resident] = _residents(app)
    assert resident.password_hash is not None
    stored = extract_parameters(resident.password_hash)
    assert stored.type is Type.ID
    assert (stored.time_cost, stored.memory_cost, stored.parallelism) == (3, 65536, 4)


def test_confirmation_link_confirms_once(
    app: Flask, client: FlaskClient, outbox: Callable[..., Any]
) -> None:
    register(client)
    link = link_in(outbox("confirm_email")[0])
    response = client.get(link)
    assert response.status_code == 200
    assert "Email address confirmed" in text(response)
    [resident] = _residents(app)
    assert resident.email_verified_at is not None
    assert "You had already confirmed it" in text(client.get(link))


def test_confirmation_link_that_was_tampered_with_is_refused(
    app: Flask, client: FlaskClient, outbox: Callable[..., Any]
) -> None:
    register(client)
    link = link_in(outbox("confirm_email")[0])
    response = client.get(link[:-3] + "abc")
    assert response.status_code == 400
    assert "This link has expired or has already been used" in text(response)
    assert _residents(app)[0].email_verified_at is None


def test_registering_an_address_in_use_shows_the_same_page_and_emails_the_owner(
    app: Flask,
    client: FlaskClient,
    outbox: Callable[..., Any],
    make_resident: Callable[..., Resident],
) -> None:
    make_resident(email="grace.hopper@example.com", given_name="Someone")
    response = register(client)
    assert response.status_code == 302
    assert response.headers["Location"] == "/register/check-your-email"
    assert len(_residents(app)) == 1
    assert outbox("confirm_email") == []
    [mail] = outbox("already_registered")
    assert mail.recipient == "grace.hopper@example.com"


def test_new_account_can_sign_in_after_confirming(
    client: FlaskClient, outbox: Callable[..., Any]
) -> None:
    register(client)
    client.get(link_in(outbox("confirm_email")[0]))
    response = submit(
        client, "/sign-in", {"email": "grace.hopper@example.com", "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 302
    assert "Grace Hopper" in text(client.get("/account"))


def test_passwords_must_match_and_are_not_shown_again(app: Flask, client: FlaskClient) -> None:
    response = register(client, password_confirm="something different")
    assert response.status_code == 400
    html = text(response)
    assert "Passwords must match" in html
    assert DEFAULT_PASSWORD not in html
    assert 'value="Grace"' in html
    assert _residents(app) == []


def test_short_password_refused(app: Flask, client: FlaskClient) -> None:
    response = register(client, password="short", password_confirm="short")
    assert response.status_code == 400
    assert "Password must be 10 characters or more" in text(response)
    assert _residents(app) == []


def test_date_of_birth_in_the_future_refused(app: Flask, client: FlaskClient) -> None:
    response = register(client, **{"date_of_birth-year": str(date.today().year + 1)})
    assert response.status_code == 400
    assert "Date of birth must be in the past" in text(response)
    with in_app(app):
        assert db_session.scalar(select(func.count()).select_from(Resident)) == 0
