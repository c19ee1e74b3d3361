"""Helpers for driving the resident pages in Chromium: test data, signing in through the
real page, reading links from the outbox and submitting forms as a person would.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

import pyotp
from flask import Flask
from playwright.sync_api import Page, Response
from sqlalchemy import select

from idservice.db import db_session
from idservice.models import OutboundEmail, Resident
from idservice.models.base import utcnow
from idservice.models.residents import PasskeyCredential
from tests.factories import DEFAULT_PASSWORD, create_resident, sign_in_client

TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
LINK = re.compile(r"https?://[^/\s]+(/\S+)")
NEW_PASSWORD = "a brand new passphrase"

#: What a person types into the registration form; keys are the fields' ids.
REGISTRATION = {
    "given_name": "Grace",
    "family_name": "Hopper",
    "date_of_birth-day": "9",
    "date_of_birth-month": "12",
    "date_of_birth-year": "1986",
    "address_line_1": "1 County Road",
    "town": "Maidstone",
    "postcode": "ME14 1XQ",
    "password": "three random words here",
    "password_confirm": "three random words here",
}


@dataclass(frozen=True)
class Someone:
    id: str
    email: str


class Site:
    """The app behind the live server, seen from the test."""

    def __init__(self, app: Flask, page: Page) -> None:
        self.app = app
        self.page = page

    # Test data ------------------------------------------------------------------------

    def resident(self, *, totp: bool = False, **overrides: Any) -> Someone:
        if totp:
            overrides.update(totp_secret=TOTP_SECRET, totp_enabled_at=utcnow())
        with self.app.app_context():
            try:
                resident = create_resident(**overrides)
                return Someone(resident.id, str(resident.email))
            finally:
                db_session.remove()

    def turn_on_totp(self, someone: Someone) -> None:
        """As if the app had been set up after this session signed in with a password."""
        with self.app.app_context():
            try:
                resident = db_session.get(Resident, someone.id)
                assert resident is not None
                resident.totp_secret = TOTP_SECRET
                resident.totp_enabled_at = utcnow()
                db_session.commit()
            finally:
                db_session.remove()

    def add_passkey(self, someone: Someone, nickname: str = "Phone") -> int:
        """A stored passkey, for pages that list or remove one (never used to sign in)."""
        with self.app.app_context():
            try:
                credential = PasskeyCredential(
                    resident_id=someone.id,
                    credential_id=secrets.token_bytes(32),
                    public_key=secrets.token_bytes(77),
                    nickname=nickname,
                    transports=["internal"],
                )
                db_session.add(credential)
                db_session.commit()
                return int(credential.id)
            finally:
                db_session.remove()

    def emails(self, template: str) -> list[OutboundEmail]:
        with self.app.app_context():
            try:
                query = select(OutboundEmail).where(OutboundEmail.template == template)
                rows = list(db_session.scalars(query.order_by(OutboundEmail.id)))
                db_session.expunge_all()
                return rows
            finally:
                db_session.remove()

    def link(self, template: str) -> str:
        """The path of the link in the newest email made from ``template``."""
        messages = self.emails(template)
        assert messages, f"no {template} email in the outbox"
        match = LINK.search(messages[-1].body_text)
        assert match, f"no link in the {template} email"
        return match.group(1)

    # In the browser -------------------------------------------------------------------

    def submit(self, button: str | None = None) -> Response:
        """Select the form's button (the first in the main content unless named)."""
        main = self.page.locator("#main-content")
        target = (
            main.get_by_role("button", name=button, exact=True)
            if button
            else main.locator("form button[type=submit]").first
        )
        with self.page.expect_navigation() as navigation:
            target.click()
        response = navigation.value
        assert response is not None
        return response

    def fill(self, values: dict[str, str]) -> None:
        for field_id, value in values.items():
            self.page.locator(f"#{field_id}").fill(value)

    def sign_in(self, someone: Someone, password: str = DEFAULT_PASSWORD) -> Response:
        """Through the real sign-in page; lands on the account or the code page."""
        self.page.goto("/sign-in")
        self.fill({"email": someone.email, "password": password})
        return self.submit("Sign in")

    def signed_in(self, someone: Someone, amr: list[str] | None = None) -> None:
        """A signed-in session cookie without the sign-in page (tests/factories.py), for
        visits about other pages; journeys sign in through the real page."""
        client = self.app.test_client()
        with self.app.app_context():
            try:
                resident = db_session.get(Resident, someone.id)
                assert resident is not None
                sign_in_client(self.app, client, resident, amr)
            finally:
                db_session.remove()
        name = self.app.config["SESSION_COOKIE_NAME"]
        cookie = client.get_cookie(name)
        assert cookie is not None, "the test client has no session cookie"
        live = self.app.config["KENTCARD"].issuer  # Site is given the live server's app
        self.page.context.add_cookies([{"name": name, "value": cookie.value, "url": live}])

    def sign_in_with_code(self, someone: Someone) -> Response:
        self.sign_in(someone)
        self.fill({"code": pyotp.TOTP(TOTP_SECRET).now()})
        return self.submit("Continue")

    def register(self, email: str) -> Response:
        self.page.goto("/register")
        self.fill({**REGISTRATION, "email": email})
        return self.submit("Create account")
