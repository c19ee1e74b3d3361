"""Every form answers bad input the same way (table-driven).

Overlong text, impossible dates, non-UK postcodes, malformed email addresses and wrong
CSRF tokens (plus bad choices, codes and phone numbers where a form has them) each get: a
400, an error summary at the top, the message next to the field, an "Error: " title,
what was typed kept (never passwords), and nothing written to the database.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from idservice.db import db_session
from idservice.models import PasskeyCredential, Resident
from idservice.models.base import utcnow
from idservice.web.forms import CSRF_MESSAGE
from tests.accounts.conftest import csrf_from, in_app, link_in, submit, text
from tests.factories import DEFAULT_PASSWORD, sign_in_client

LONG_EMAIL = "a" * 250 + "@example.com"
SECRET = "JBSWY3DPEHPK3PXP"
CSRF = "csrf_token"


@dataclass
class Situation:
    client: FlaskClient
    resident: Resident | None = None
    url: str = ""


@dataclass(frozen=True)
class Case:
    form: str
    url: str  # "{token}" and "{passkey}" are filled in by the setup
    setup: str
    bad: str
    data: dict[str, Any]
    error_field: str
    message: str
    kept: dict[str, str] = field(default_factory=dict)
    secret: str | None = None  # typed into a password field: must not come back


REGISTER = {
    "given_name": "Grace",
    "family_name": "Hopper",
    "date_of_birth-day": "2",
    "date_of_birth-month": "6",
    "date_of_birth-year": "1948",
    "address_line_1": "3 Marine Parade",
    "town": "Folkestone",
    "postcode": "CT20 1PX",
    "email": "grace@example.com",
    "phone": "",
    "password": DEFAULT_PASSWORD,
    "password_confirm": DEFAULT_PASSWORD,
}
ADDRESS = {"address_line_1": "1 New Road", "town": "Canterbury", "postcode": "CT1 1AA"}
NEW_PASSWORD = {"password": "a new passphrase", "password_confirm": "a new passphrase"}
DATE = {"date_of_birth-day": "31", "date_of_birth-month": "2", "date_of_birth-year": "1990"}


def _cases() -> list[Case]:
    sign_in = {"email": "ada@example.com", "password": DEFAULT_PASSWORD}
    return [
        # Sign in
        Case(
            "sign-in",
            "/sign-in",
            "anon",
            "overlong",
            {**sign_in, "email": LONG_EMAIL},
            "email",
            "Email address must be 254 characters or fewer",
            {"email": LONG_EMAIL},
            DEFAULT_PASSWORD,
        ),
        Case(
            "sign-in",
            "/sign-in",
            "anon",
            "malformed email",
            {**sign_in, "email": "ada@"},
            "email",
            "Enter an email address in the correct format",
            {"email": "ada@"},
            DEFAULT_PASSWORD,
        ),
        Case(
            "sign-in",
            "/sign-in",
            "anon",
            "wrong csrf",
            sign_in,
            CSRF,
            CSRF_MESSAGE,
            {"email": "ada@example.com"},
            DEFAULT_PASSWORD,
        ),
        # Register
        Case(
            "register",
            "/register",
            "anon",
            "overlong",
            {**REGISTER, "given_name": "G" * 101},
            "given_name",
            "First name must be 100 characters or fewer",
            {"given_name": "G" * 101, "town": "Folkestone"},
            DEFAULT_PASSWORD,
        ),
        Case(
            "register",
            "/register",
            "anon",
            "impossible date",
            {**REGISTER, **DATE},
            "date_of_birth",
            "Date of birth must be a real date",
            {"date_of_birth-day": "31", "email": "grace@example.com"},
            DEFAULT_PASSWORD,
        ),
        Case(
            "register",
            "/register",
            "anon",
            "non-UK postcode",
            {**REGISTER, "postcode": "10115"},
            "postcode",
            "Enter a real UK postcode",
            {"postcode": "10115"},
            DEFAULT_PASSWORD,
        ),
        Case(
            "register",
            "/register",
            "anon",
            "malformed email",
            {**REGISTER, "email": "grace.example.com"},
            "email",
            "Enter an email address in the correct format",
            {"email": "grace.example.com"},
            DEFAULT_PASSWORD,
        ),
        Case(
            "register",
            "/register",
            "anon",
            "malformed phone",
            {**REGISTER, "phone": "call me maybe"},
            "phone",
            "Enter a telephone number",
            {"phone": "call me maybe"},
            DEFAULT_PASSWORD,
        ),
        Case(
            "register",
            "/register",
            "anon",
            "wrong csrf",
            REGISTER,
            CSRF,
            CSRF_MESSAGE,
            {"given_name": "Grace", "postcode": "CT20 1PX"},
            DEFAULT_PASSWORD,
        ),
        # Forgotten password
        Case(
            "forgot",
            "/forgot-password",
            "anon",
            "overlong",
            {"email": LONG_EMAIL},
            "email",
            "Email address must be 254 characters or fewer",
            {"email": LONG_EMAIL},
        ),
        Case(
            "forgot",
            "/forgot-password",
            "anon",
            "malformed email",
            {"email": "a@b@c"},
            "email",
            "Enter an email address in the correct format",
            {"email": "a@b@c"},
        ),
        Case(
            "forgot",
            "/forgot-password",
            "anon",
            "wrong csrf",
            {"email": "ada@example.com"},
            CSRF,
            CSRF_MESSAGE,
            {"email": "ada@example.com"},
        ),
        # Reset password from the emailed link
        Case(
            "reset",
            "{reset}",
            "reset",
            "overlong",
            {"password": "p" * 257, "password_confirm": "p" * 257},
            "password",
            "Password must be 256 characters or fewer",
            secret="p" * 257,
        ),
        Case(
            "reset",
            "{reset}",
            "reset",
            "wrong csrf",
            NEW_PASSWORD,
            CSRF,
            CSRF_MESSAGE,
            secret="a new passphrase",
        ),
        # Sign-in code
        Case(
            "code",
            "/sign-in/code",
            "code pending",
            "malformed code",
            {"code": "12ab56"},
            "code",
            "Enter the 6-digit code",
            {"code": "12ab56"},
        ),
        Case(
            "code",
            "/sign-in/code",
            "code pending",
            "overlong",
            {"code": "1" * 21},
            "code",
            "Security code must be 20 characters or fewer",
            {"code": "1" * 21},
        ),
        Case(
            "code",
            "/sign-in/code",
            "code pending",
            "wrong csrf",
            {"code": "123456"},
            CSRF,
            CSRF_MESSAGE,
            {"code": "123456"},
        ),
        # Change details
        Case(
            "name",
            "/account/change/name",
            "signed in",
            "overlong",
            {"given_name": "A" * 101, "family_name": "King"},
            "given_name",
            "First name must be 100 characters or fewer",
            {"family_name": "King"},
        ),
        Case(
            "name",
            "/account/change/name",
            "signed in",
            "wrong csrf",
            {"given_name": "Augusta", "family_name": "King"},
            CSRF,
            CSRF_MESSAGE,
            {"given_name": "Augusta"},
        ),
        Case(
            "date of birth",
            "/account/change/date-of-birth",
            "signed in",
            "impossible date",
            DATE,
            "date_of_birth",
            "Date of birth must be a real date",
            {"date_of_birth-day": "31", "date_of_birth-month": "2"},
        ),
        Case(
            "date of birth",
            "/account/change/date-of-birth",
            "signed in",
            "overlong",
            {**DATE, "date_of_birth-year": "19900"},
            "date_of_birth",
            "Date of birth must be a real date",
            {"date_of_birth-year": "19900"},
        ),
        Case(
            "date of birth",
            "/account/change/date-of-birth",
            "signed in",
            "wrong csrf",
            {**DATE, "date_of_birth-day": "1"},
            CSRF,
            CSRF_MESSAGE,
            {"date_of_birth-day": "1"},
        ),
        Case(
            "address",
            "/account/change/address",
            "signed in",
            "overlong",
            {**ADDRESS, "address_line_1": "x" * 201},
            "address_line_1",
            "Address line 1 must be 200 characters or fewer",
            {"town": "Canterbury"},
        ),
        Case(
            "address",
            "/account/change/address",
            "signed in",
            "non-UK postcode",
            {**ADDRESS, "postcode": "D02 X285"},
            "postcode",
            "Enter a real UK postcode",
            {"postcode": "D02 X285", "town": "Canterbury"},
        ),
        Case(
            "address",
            "/account/change/address",
            "signed in",
            "wrong csrf",
            ADDRESS,
            CSRF,
            CSRF_MESSAGE,
            {"address_line_1": "1 New Road"},
        ),
        Case(
            "phone",
            "/account/change/phone",
            "signed in",
            "overlong",
            {"phone": "0" * 21},
            "phone",
            "UK phone number must be 20 characters or fewer",
            {"phone": "0" * 21},
        ),
        Case(
            "phone",
            "/account/change/phone",
            "signed in",
            "malformed phone",
            {"phone": "0800 ring me"},
            "phone",
            "Enter a telephone number",
            {"phone": "0800 ring me"},
        ),
        Case(
            "phone",
            "/account/change/phone",
            "signed in",
            "wrong csrf",
            {"phone": "01632960001"},
            CSRF,
            CSRF_MESSAGE,
            {"phone": "01632960001"},
        ),
        Case(
            "language",
            "/account/change/language",
            "signed in",
            "bad choice",
            {"language": "xx"},
            "language",
            "Select which language",
        ),
        Case(
            "language",
            "/account/change/language",
            "signed in",
            "wrong csrf",
            {"language": "cy"},
            CSRF,
            CSRF_MESSAGE,
        ),
        Case(
            "formats",
            "/account/change/alternative-formats",
            "signed in",
            "bad choice",
            {"alternative_formats": ["braille", "smoke signals"]},
            "alternative_formats",
            "Select from the options",
        ),
        Case(
            "formats",
            "/account/change/alternative-formats",
            "signed in",
            "wrong csrf",
            {"alternative_formats": ["braille"]},
            CSRF,
            CSRF_MESSAGE,
        ),
        Case(
            "text relay",
            "/account/change/text-relay",
            "signed in",
            "bad choice",
            {"text_relay": "maybe"},
            "text_relay",
            "Select should we use text relay",
        ),
        Case(
            "text relay",
            "/account/change/text-relay",
            "signed in",
            "wrong csrf",
            {"text_relay": "yes"},
            CSRF,
            CSRF_MESSAGE,
        ),
        Case(
            "email",
            "/account/change/email",
            "signed in",
            "malformed email",
            {"email": "new at example.com"},
            "email",
            "Enter an email address in the correct format",
            {"email": "new at example.com"},
        ),
        Case(
            "email",
            "/account/change/email",
            "signed in",
            "overlong",
            {"email": LONG_EMAIL},
            "email",
            "New email address must be 254 characters or fewer",
            {"email": LONG_EMAIL},
        ),
        Case(
            "email",
            "/account/change/email",
            "signed in",
            "wrong csrf",
            {"email": "new@example.com"},
            CSRF,
            CSRF_MESSAGE,
            {"email": "new@example.com"},
        ),
        Case(
            "password",
            "/account/change/password",
            "signed in",
            "overlong",
            {
                "current_password": DEFAULT_PASSWORD,
                "password": "p" * 257,
                "password_confirm": "p" * 257,
            },
            "password",
            "Password must be 256 characters or fewer",
            secret=DEFAULT_PASSWORD,
        ),
        Case(
            "password",
            "/account/change/password",
            "signed in",
            "wrong csrf",
            {"current_password": DEFAULT_PASSWORD, **NEW_PASSWORD},
            CSRF,
            CSRF_MESSAGE,
            secret=DEFAULT_PASSWORD,
        ),
        Case(
            "close",
            "/account/close",
            "signed in",
            "overlong",
            {"password": "p" * 257},
            "password",
            "must be 256 characters or fewer",
            secret="p" * 257,
        ),
        Case(
            "close",
            "/account/close",
            "signed in",
            "wrong csrf",
            {"password": DEFAULT_PASSWORD},
            CSRF,
            CSRF_MESSAGE,
            secret=DEFAULT_PASSWORD,
        ),
        # Security
        Case(
            "app setup",
            "/account/security/authenticator-app",
            "signed in",
            "malformed code",
            {"code": "abcdef"},
            "code",
            "Enter the 6-digit code",
            {"code": "abcdef"},
        ),
        Case(
            "app setup",
            "/account/security/authenticator-app",
            "signed in",
            "overlong",
            {"code": "9" * 21},
            "code",
            "must be 20 characters or fewer",
            {"code": "9" * 21},
        ),
        Case(
            "app setup",
            "/account/security/authenticator-app",
            "signed in",
            "wrong csrf",
            {"code": "123456"},
            CSRF,
            CSRF_MESSAGE,
            {"code": "123456"},
        ),
        Case(
            "app off",
            "/account/security/authenticator-app/turn-off",
            "signed in with app",
            "overlong",
            {"password": "p" * 257},
            "password",
            "must be 256 characters or fewer",
            secret="p" * 257,
        ),
        Case(
            "app off",
            "/account/security/authenticator-app/turn-off",
            "signed in with app",
            "wrong csrf",
            {"password": DEFAULT_PASSWORD},
            CSRF,
            CSRF_MESSAGE,
            secret=DEFAULT_PASSWORD,
        ),
        Case(
            "step-up",
            "/sign-in/step-up?next=/account",
            "signed in with app",
            "malformed code",
            {"code": "12-34-5x"},
            "code",
            "Enter the 6-digit code",
            {"code": "12-34-5x"},
        ),
        Case(
            "step-up",
            "/sign-in/step-up?next=/account",
            "signed in with app",
            "overlong",
            {"code": "1" * 21},
            "code",
            "must be 20 characters or fewer",
            {"code": "1" * 21},
        ),
        Case(
            "step-up",
            "/sign-in/step-up?next=/account",
            "signed in with app",
            "wrong csrf",
            {"code": "123456"},
            CSRF,
            CSRF_MESSAGE,
            {"code": "123456"},
        ),
        Case(
            "remove passkey",
            "{passkey}",
            "signed in with passkey",
            "wrong csrf",
            {},
            CSRF,
            CSRF_MESSAGE,
        ),
        Case("sign out", "/sign-out", "signed in", "wrong csrf", {}, CSRF, CSRF_MESSAGE),
    ]


CASES = _cases()


def _set_up(app: Flask, kind: str, make_resident: Callable[..., Resident]) -> Situation:
    client = app.test_client()
    situation = Situation(client)
    if kind == "anon":
        return situation
    with_app = kind in ("signed in with app", "code pending")
    extra = {"totp_secret": SECRET, "totp_enabled_at": utcnow()} if with_app else {}
    resident = make_resident(**extra)
    situation.resident = resident
    if kind == "code pending":
        submit(client, "/sign-in", {"email": resident.email, "password": DEFAULT_PASSWORD})
    elif kind == "reset":
        submit(client, "/forgot-password", {"email": resident.email})
        with in_app(app):
            from sqlalchemy import select

            from idservice.models import OutboundEmail

            message = db_session.scalars(select(OutboundEmail)).one()
            situation.url = link_in(message)
    else:
        sign_in_client(app, client, resident)
    if kind == "signed in with passkey":
        with in_app(app):
            passkey = PasskeyCredential(
                resident_id=resident.id, credential_id=b"credential", public_key=b"key"
            )
            db_session.add(passkey)
            db_session.commit()
            situation.url = f"/account/security/passkeys/{passkey.id}/remove"
    return situation


@pytest.mark.parametrize("case", CASES, ids=[f"{c.form}: {c.bad}" for c in CASES])
def test_bad_input_is_answered_on_the_page(
    app: Flask, make_resident: Callable[..., Resident], snapshot: Any, case: Case
) -> None:
    situation = _set_up(app, case.setup, make_resident)
    url = situation.url if case.url.startswith("{") else case.url
    client = situation.client
    page = client.get(url)
    assert page.status_code == 200, (url, page.status_code)
    token = "forged-" + csrf_from(page)[:10] if case.bad == "wrong csrf" else csrf_from(page)
    before = snapshot()

    response = client.post(url, data={**case.data, "csrf_token": token})

    assert response.status_code == 400
    html = text(response)
    assert "<title>Error: " in html
    summary = html[html.index('class="kc-error-summary"') : html.index("</h1>")]
    assert "There is a problem" in summary
    assert case.message.lower() in summary.lower()
    if case.error_field != CSRF:
        assert f'href="#{case.error_field}' in summary
        message = re.search(rf'id="{case.error_field}-error"[^>]*>(.*?)</p>', html, re.S)
        assert message and case.message.lower() in message.group(1).lower()
    for name, value in case.kept.items():
        assert f'name="{name}"' in html
        assert f'value="{value}"' in html, f"{name} not kept"
    if case.secret:
        assert case.secret not in html
    assert snapshot() == before, "a rejected form wrote to the database"
