"""Authenticator app: setup with a confirming code, the second sign-in page, replay
protection, wrong codes counted by the sign-in throttle, and step-up."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy import text as text_sql

from idservice.db import db_session
from idservice.models import AuditRecord, Resident, ResidentSession
from idservice.services import signin
from tests.accounts.conftest import in_app, submit, text
from tests.factories import DEFAULT_PASSWORD, sign_in_client

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def code_at(offset_steps: int = 0, secret: str = SECRET) -> str:
    return pyotp.TOTP(secret).at(time.time() + 30 * offset_steps)


@pytest.fixture
def with_app_code(make_resident: Callable[..., Resident]) -> Resident:
    from idservice.models.base import utcnow

    return make_resident(totp_secret=SECRET, totp_enabled_at=utcnow())


def _latest_session(app: Flask, resident_id: str) -> ResidentSession | None:
    with in_app(app):
        record = db_session.scalar(
            select(ResidentSession)
            .where(ResidentSession.resident_id == resident_id, ResidentSession.ended_at.is_(None))
            .order_by(ResidentSession.created_at.desc())
        )
        db_session.expunge_all()
        return record


def _row(app: Flask, resident_id: str) -> dict[str, Any]:
    """The resident's row as stored (sealed columns as their stored text)."""
    with in_app(app):
        row = db_session.execute(
            text_sql("SELECT * FROM residents WHERE id = :id"), {"id": resident_id}
        ).one()
        return dict(row._mapping)


def _secret_on(html: str) -> str:
    match = re.search(r"secret=([A-Z2-7]+)", html)
    assert match, "the otpauth URI is not on the page"
    return match.group(1)


def test_setup_shows_the_secret_and_uri_and_needs_a_code(
    app: Flask, client: FlaskClient, make_resident: Callable[..., Resident], reload: Any
) -> None:
    resident = make_resident()
    sign_in_client(app, client, resident)
    before = _row(app, resident.id)
    html = text(client.get("/account/security/authenticator-app"))
    secret = _secret_on(html)
    assert len(secret) >= 32
    assert " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)) in html
    assert "otpauth://totp/Kent%20account:" in html
    assert "<svg" not in html and "<img" not in html
    # Looking at the page changes nothing on the record; a reload shows the same secret,
    # so the app already set up still matches.
    assert _row(app, resident.id) == before
    assert _secret_on(text(client.get("/account/security/authenticator-app"))) == secret
    assert _row(app, resident.id) == before

    wrong = submit(client, "/account/security/authenticator-app", {"code": "000000"})
    assert wrong.status_code == 400
    assert _row(app, resident.id) == before
    right = submit(client, "/account/security/authenticator-app", {"code": code_at(0, secret)})
    assert right.status_code == 302
    stored = reload(resident.id)
    assert stored.totp_enabled_at is not None and stored.totp_secret == secret
    assert secret not in str(_row(app, resident.id)["totp_secret"])  # sealed at rest
    with in_app(app):
        entry = db_session.scalars(select(AuditRecord).order_by(AuditRecord.id.desc())).first()
        assert entry is not None and entry.action == "second_factor.added"
        assert SECRET not in str(entry.details) and secret not in str(entry.details)
    # The code just used cannot be used again to sign in, and the next one works.
    fresh = app.test_client()
    response = submit(fresh, "/sign-in", {"email": resident.email, "password": DEFAULT_PASSWORD})
    assert response.status_code == 302
    assert submit(fresh, "/sign-in/code", {"code": code_at(0, secret)}).status_code == 400
    assert submit(fresh, "/sign-in/code", {"code": code_at(1, secret)}).status_code == 302


def test_a_pending_secret_from_another_session_is_not_accepted(
    app: Flask, client: FlaskClient, make_resident: Callable[..., Resident], reload: Any
) -> None:
    """The sealed pending secret is bound to its resident: it cannot be carried to another."""
    first, second = make_resident(), make_resident()
    sign_in_client(app, client, first)
    secret = _secret_on(text(client.get("/account/security/authenticator-app")))
    with client.session_transaction() as cookie:
        sealed = cookie["totp_pending"]
    other = app.test_client()
    sign_in_client(app, other, second)
    with other.session_transaction() as cookie:
        cookie["totp_pending"] = sealed
    assert _secret_on(text(other.get("/account/security/authenticator-app"))) != secret
    answer = submit(other, "/account/security/authenticator-app", {"code": code_at(0, secret)})
    assert answer.status_code == 400
    assert reload(second.id).totp_enabled_at is None


def test_sign_in_asks_for_the_code_before_the_session_starts(
    app: Flask, client: FlaskClient, with_app_code: Resident
) -> None:
    response = submit(
        client,
        "/sign-in?next=/account/activity",
        {"email": with_app_code.email, "password": DEFAULT_PASSWORD},
    )
    assert response.headers["Location"] == "/sign-in/code"
    assert _latest_session(app, with_app_code.id) is None
    assert client.get("/account").status_code == 302
    page = client.get("/sign-in/code")
    assert "Enter the code from your authenticator app" in text(page)
    assert 'autocomplete="one-time-code"' in text(page)
    response = submit(client, "/sign-in/code", {"code": code_at()})
    assert response.headers["Location"] == "/account/activity"
    record = _latest_session(app, with_app_code.id)
    assert record is not None
    assert record.amr == ["pwd", "otp", "mfa"]
    assert record.acr == "urn:kentcard:acr:mfa"


def test_code_page_without_a_password_goes_back_to_sign_in(client: FlaskClient) -> None:
    assert client.get("/sign-in/code").headers["Location"] == "/sign-in"


def test_the_same_code_cannot_be_used_twice(
    app: Flask, client: FlaskClient, with_app_code: Resident
) -> None:
    code = code_at()
    submit(client, "/sign-in", {"email": with_app_code.email, "password": DEFAULT_PASSWORD})
    assert submit(client, "/sign-in/code", {"code": code}).status_code == 302
    other = app.test_client()
    submit(other, "/sign-in", {"email": with_app_code.email, "password": DEFAULT_PASSWORD})
    replay = submit(other, "/sign-in/code", {"code": code})
    assert replay.status_code == 400
    assert signin.WRONG_CODE in text(replay)
    # An older code than the one used is refused too.
    assert submit(other, "/sign-in/code", {"code": code_at(-1)}).status_code == 400


def test_wrong_codes_make_that_browser_wait(client: FlaskClient, with_app_code: Resident) -> None:
    submit(client, "/sign-in", {"email": with_app_code.email, "password": DEFAULT_PASSWORD})
    for _ in range(5):
        assert submit(client, "/sign-in/code", {"code": "123456"}).status_code == 400
    # That browser must wait: the right code is refused, and so is the right password.
    locked = submit(client, "/sign-in/code", {"code": code_at()})
    assert locked.status_code == 429
    assert signin.LOCKED in text(locked)
    assert client.get("/account").status_code == 302
    fresh = submit(client, "/sign-in", {"email": with_app_code.email, "password": DEFAULT_PASSWORD})
    assert fresh.status_code == 429
    assert signin.LOCKED in text(fresh)


def test_a_right_password_does_not_reset_the_code_failures(
    client: FlaskClient, with_app_code: Resident
) -> None:
    for _ in range(2):
        submit(client, "/sign-in", {"email": with_app_code.email, "password": DEFAULT_PASSWORD})
        submit(client, "/sign-in/code", {"code": "123456"})
        submit(client, "/sign-in/code", {"code": "654321"})
    submit(client, "/sign-in", {"email": with_app_code.email, "password": DEFAULT_PASSWORD})
    submit(client, "/sign-in/code", {"code": "111111"})  # the fifth failure
    response = submit(
        client, "/sign-in", {"email": with_app_code.email, "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 429


def test_turning_off_needs_the_password(
    app: Flask, client: FlaskClient, with_app_code: Resident, reload: Any
) -> None:
    sign_in_client(app, client, with_app_code)
    url = "/account/security/authenticator-app/turn-off"
    assert submit(client, url, {"password": "not my password"}).status_code == 400
    assert reload(with_app_code.id).totp_enabled_at is not None
    assert submit(client, url, {"password": DEFAULT_PASSWORD}).status_code == 302
    resident = reload(with_app_code.id)
    assert resident.totp_enabled_at is None and resident.totp_secret is None


STEP_UP = "/sign-in/step-up?next=/account/security&acr=urn:kentcard:acr:mfa"


def test_step_up_with_a_code_raises_the_session(
    app: Flask, client: FlaskClient, with_app_code: Resident
) -> None:
    record = sign_in_client(app, client, with_app_code)
    page = client.get(STEP_UP)
    assert page.status_code == 200 and "Confirm it is you" in text(page)
    assert submit(client, STEP_UP, {"code": "000000"}).status_code == 400
    response = submit(client, STEP_UP, {"code": code_at()})
    assert response.headers["Location"] == "/account/security"
    with in_app(app):
        stored = db_session.get(ResidentSession, record.id)
        assert stored is not None
        assert stored.acr == "urn:kentcard:acr:mfa"
        assert set(stored.amr) == {"pwd", "otp", "mfa"}


def test_step_up_when_already_strong_enough_goes_straight_on(
    app: Flask, client: FlaskClient, with_app_code: Resident
) -> None:
    sign_in_client(app, client, with_app_code, ["pwd", "otp", "mfa"])
    assert client.get(STEP_UP).headers["Location"] == "/account/security"


def test_step_up_never_redirects_off_site(
    app: Flask, client: FlaskClient, with_app_code: Resident
) -> None:
    sign_in_client(app, client, with_app_code)
    url = "/sign-in/step-up?next=https://evil.example/&acr=urn:kentcard:acr:mfa"
    assert submit(client, url, {"code": code_at()}).headers["Location"] == "/account"


def test_step_up_without_a_second_factor_explains_how_to_get_one(
    app: Flask, client: FlaskClient, make_resident: Callable[..., Resident]
) -> None:
    sign_in_client(app, client, make_resident())
    html = text(client.get(STEP_UP))
    assert "You need to set up a second way to sign in" in html
    assert 'href="/account/security"' in html
    assert 'name="code"' not in html


def test_step_up_needs_sign_in(client: FlaskClient) -> None:
    assert client.get(STEP_UP).headers["Location"].startswith("/sign-in?next=")
