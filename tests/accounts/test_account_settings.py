"""Changing details and preferences, the email address and password; closing an account."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idservice.db import db_session
from idservice.models import AuditRecord, Resident, ResidentSession
from tests.accounts.conftest import in_app, link_in, submit, text
from tests.factories import DEFAULT_PASSWORD, sign_in_client


def _audit(app: Flask, resident_id: str) -> list[AuditRecord]:
    with in_app(app):
        rows = list(
            db_session.scalars(
                select(AuditRecord)
                .where(AuditRecord.resident_id == resident_id)
                .order_by(AuditRecord.id)
            )
        )
        db_session.expunge_all()
        return rows


@pytest.fixture
def signed_in(app: Flask, client: FlaskClient, make_resident: Callable[..., Resident]) -> Resident:
    resident = make_resident()
    sign_in_client(app, client, resident)
    return resident


CHANGES = [
    ("name", {"given_name": "Augusta", "family_name": "King"}, {"given_name": "Augusta"}),
    (
        "date-of-birth",
        {"date_of_birth-day": "1", "date_of_birth-month": "2", "date_of_birth-year": "1960"},
        {"date_of_birth": date(1960, 2, 1)},
    ),
    (
        "address",
        {
            "address_line_1": "1 New Road",
            "address_line_2": "Flat 2",
            "town": "Canterbury",
            "postcode": "CT1 1AA",
        },
        {"address_line_2": "Flat 2", "postcode": "CT1 1AA"},
    ),
    ("phone", {"phone": "+44 7700 900982"}, {"phone": "07700900982"}),
    ("language", {"language": "cy"}, {"language": "cy"}),
    (
        "alternative-formats",
        {"alternative_formats": ["large_print", "braille"]},
        {"alternative_formats": ["braille", "large_print"]},
    ),
    ("text-relay", {"text_relay": "yes"}, {"text_relay": True}),
]


@pytest.mark.parametrize(("slug", "form", "expected"), CHANGES, ids=[c[0] for c in CHANGES])
def test_each_detail_can_be_changed_and_is_audited(
    app: Flask,
    client: FlaskClient,
    signed_in: Resident,
    reload: Callable[[str], Resident],
    slug: str,
    form: dict[str, Any],
    expected: dict[str, Any],
) -> None:
    response = submit(client, f"/account/change/{slug}", form)
    assert response.status_code == 302, text(response)
    assert response.headers["Location"] == "/account"
    assert "Your changes have been saved" in text(client.get("/account"))
    resident = reload(signed_in.id)
    for field, value in expected.items():
        assert getattr(resident, field) == value
    # A new date of birth or address is also recorded as a fact (its own audit record).
    entry = [e for e in _audit(app, signed_in.id) if e.action != "fact.recorded"][-1]
    assert entry.action == "resident.details_changed"
    assert entry.channel == "web" and entry.actor_type == "resident"
    assert entry.actor_id == signed_in.id
    assert set(expected) <= set(entry.details["fields"])
    for value in form.values():  # names, never values
        for item in value if isinstance(value, list) else [value]:
            if item not in ("yes", "cy") and not item.isdigit():
                assert item not in str(entry.details)


def test_change_pages_show_the_current_answers(client: FlaskClient, signed_in: Resident) -> None:
    assert 'value="Ada"' in text(client.get("/account/change/name"))
    html = text(client.get("/account/change/date-of-birth"))
    assert 'value="10"' in html and 'value="1956"' in html
    assert 'value="en" checked' in text(client.get("/account/change/language"))
    assert 'value="no" checked' in text(client.get("/account/change/text-relay"))


def test_saving_without_changes_records_nothing(
    app: Flask, client: FlaskClient, signed_in: Resident
) -> None:
    before = len(_audit(app, signed_in.id))
    submit(client, "/account/change/name", {"given_name": "Ada", "family_name": "Lovelace"})
    assert len(_audit(app, signed_in.id)) == before
    assert "You did not change anything" in text(client.get("/account"))


def test_phone_can_be_removed(
    app: Flask, client: FlaskClient, make_resident: Callable[..., Resident], reload: Any
) -> None:
    resident = make_resident(phone="01632960001")
    sign_in_client(app, client, resident)
    submit(client, "/account/change/phone", {"phone": ""})
    assert reload(resident.id).phone is None


def test_unknown_change_page_is_404(client: FlaskClient, signed_in: Resident) -> None:
    assert client.get("/account/change/status").status_code == 404


def test_email_change_needs_the_new_address_confirmed(
    app: Flask,
    client: FlaskClient,
    signed_in: Resident,
    reload: Callable[[str], Resident],
    outbox: Callable[..., Any],
) -> None:
    response = submit(client, "/account/change/email", {"email": "ada.new@example.com"})
    assert response.headers["Location"] == "/account/change/email/check-your-email"
    assert reload(signed_in.id).email == signed_in.email  # not yet
    [mail] = outbox("change_email")
    assert mail.recipient == "ada.new@example.com"
    assert "ada.new" not in link_in(mail)  # the new address is sealed inside the link
    assert [m.recipient for m in outbox("email_change_requested")] == [signed_in.email]
    link = link_in(mail)
    assert client.get(link).status_code == 200
    changed = reload(signed_in.id)
    assert changed.email == "ada.new@example.com"
    assert changed.email_verified_at is not None
    assert client.get(link).status_code == 400  # single use
    assert _audit(app, signed_in.id)[-1].details == {"fields": ["email", "email_verified_at"]}


def test_email_change_to_an_address_in_use_looks_the_same(
    client: FlaskClient,
    signed_in: Resident,
    make_resident: Callable[..., Resident],
    reload: Callable[[str], Resident],
    outbox: Callable[..., Any],
) -> None:
    other = make_resident()
    response = submit(client, "/account/change/email", {"email": other.email})
    assert response.headers["Location"] == "/account/change/email/check-your-email"
    assert outbox("change_email") == []
    assert [m.recipient for m in outbox("email_in_use")] == [other.email]
    assert reload(signed_in.id).email == signed_in.email


def test_change_password_checks_the_current_one_and_signs_out_elsewhere(
    app: Flask, client: FlaskClient, signed_in: Resident
) -> None:
    other_browser = app.test_client()
    sign_in_client(app, other_browser, signed_in)
    new = "another long passphrase"
    wrong = submit(
        client,
        "/account/change/password",
        {"current_password": "not my password", "password": new, "password_confirm": new},
    )
    assert wrong.status_code == 400
    assert "Your current password is not correct" in text(wrong)
    right = submit(
        client,
        "/account/change/password",
        {"current_password": DEFAULT_PASSWORD, "password": new, "password_confirm": new},
    )
    assert right.status_code == 302
    assert client.get("/account").status_code == 200  # this browser stays signed in
    assert other_browser.get("/account").status_code == 302
    assert _audit(app, signed_in.id)[-1].details == {"fields": ["password_hash"]}


def test_close_account_warns_then_closes_and_ends_all_sessions(
    app: Flask,
    client: FlaskClient,
    signed_in: Resident,
    reload: Callable[[str], Resident],
    outbox: Callable[..., Any],
) -> None:
    other_browser = app.test_client()
    sign_in_client(app, other_browser, signed_in)
    page = text(client.get("/account/close"))
    assert "Are you sure you want to close your account?" in page
    assert "kc-warning-text" in page and "Close my account" in page
    wrong = submit(client, "/account/close", {"password": "not my password"})
    assert wrong.status_code == 400
    assert reload(signed_in.id).status == "active"
    response = submit(client, "/account/close", {"password": DEFAULT_PASSWORD})
    assert response.headers["Location"] == "/account/closed"
    closed = reload(signed_in.id)
    assert closed.status == "closed" and closed.closed_at is not None
    assert client.get("/account").status_code == 302
    assert other_browser.get("/account").status_code == 302
    with in_app(app):
        assert all(s.ended_at for s in db_session.scalars(select(ResidentSession)))
    entry = _audit(app, signed_in.id)[-1]
    assert (entry.action, entry.channel) == ("resident.closed", "web")
    assert outbox("account_closed")
    signin_again = submit(
        app.test_client(), "/sign-in", {"email": signed_in.email, "password": DEFAULT_PASSWORD}
    )
    assert signin_again.status_code == 400


def test_activity_page_describes_changes_in_plain_english(
    client: FlaskClient, signed_in: Resident
) -> None:
    submit(
        client,
        "/account/change/address",
        {
            "address_line_1": "1 New Road",
            "town": "Canterbury",
            "postcode": "CT1 1AA",
        },
    )
    html = text(client.get("/account/activity"))
    assert "Your account activity" in html
    assert "Details changed" in html
    assert "Your address, postcode and town or city" in html
    assert "Account created" in html
    assert "Automatically by the Kent account service" in html  # the factory's channel
    assert "<td>You</td>" in html and "Online" in html
    assert "Canterbury" not in html  # what changed, not what it changed to
