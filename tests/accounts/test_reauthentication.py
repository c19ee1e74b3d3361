"""Sensitive changes need a recent authentication ("Confirm it is you").

The attack: on a shared computer, a browser someone left signed in is used to change the
account's email address (then reset the password through it), or to add an authenticator
app or passkey, with nothing more than the CSRF token any page of the account carries.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from idservice.config import Settings
from idservice.db import db_session
from idservice.models import AuditRecord, PasskeyCredential, Resident, ResidentSession
from idservice.models.base import utcnow
from tests.accounts.conftest import csrf_from, in_app, submit, text
from tests.accounts.webauthn_device import SoftPasskey
from tests.factories import DEFAULT_PASSWORD, sign_in_client

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
CONFIRM = "/account/confirm-it-is-you"


def age_session(app: Flask, record: ResidentSession, minutes: float) -> None:
    """As if the resident signed in ``minutes`` ago and walked away."""
    with in_app(app):
        db_session.execute(
            update(ResidentSession)
            .where(ResidentSession.id == record.id)
            .values(auth_time=utcnow() - timedelta(minutes=minutes))
        )
        db_session.commit()


def auth_time(app: Flask, record: ResidentSession) -> Any:
    with in_app(app):
        stored = db_session.get(ResidentSession, record.id)
        assert stored is not None
        return stored.auth_time


def actions(app: Flask, resident_id: str) -> list[tuple[str, dict[str, Any]]]:
    with in_app(app):
        rows = db_session.scalars(
            select(AuditRecord)
            .where(AuditRecord.resident_id == resident_id)
            .order_by(AuditRecord.id)
        )
        return [(r.action, dict(r.details or {})) for r in rows]


def any_csrf(client: FlaskClient) -> str:
    """The token every page of the account carries (here, a page that is not sensitive)."""
    return csrf_from(client.get("/account/change/name"))


@pytest.fixture
def device(app: Flask) -> SoftPasskey:
    settings = app.config["KENTCARD"]
    return SoftPasskey(settings.webauthn_rp_id, settings.webauthn_origin)


@pytest.fixture
def window(app: Flask) -> Iterator[Callable[[int], None]]:
    settings: Settings = app.config["KENTCARD"]
    before = settings.reauth_window

    def set_to(seconds: int) -> None:
        settings.reauth_window = seconds

    yield set_to
    settings.reauth_window = before


@pytest.fixture
def left_signed_in(
    app: Flask, client: FlaskClient, make_resident: Callable[..., Resident]
) -> tuple[Resident, ResidentSession]:
    """A resident who signed in 20 minutes ago and left the browser open."""
    resident = make_resident()
    record = sign_in_client(app, client, resident)
    age_session(app, record, 20)
    return resident, record


def _goes_to_confirm(response: Any, back_to: str) -> None:
    assert response.status_code == 302, response.status_code
    assert response.headers["Location"] == f"{CONFIRM}?next={back_to}"


# --- the attack: an old session, the CSRF token, and nothing else ----------------------


def test_email_change_from_an_unattended_browser_is_refused(
    app: Flask,
    client: FlaskClient,
    left_signed_in: tuple[Resident, ResidentSession],
    outbox: Any,
    reload: Callable[[str], Resident],
) -> None:
    resident, _ = left_signed_in
    response = client.post(
        "/account/change/email",
        data={"csrf_token": any_csrf(client), "email": "attacker@example.net"},
    )
    _goes_to_confirm(response, "/account/change/email")
    assert outbox("change_email") == []
    assert outbox(recipient="attacker@example.net") == []
    assert reload(resident.id).email == resident.email
    assert "email.change_requested" not in [a for a, _ in actions(app, resident.id)]


def test_email_change_page_asks_first_before_anything_is_typed(
    client: FlaskClient, left_signed_in: tuple[Resident, ResidentSession]
) -> None:
    _goes_to_confirm(client.get("/account/change/email"), "/account/change/email")


def test_phone_change_from_an_unattended_browser_is_refused(
    client: FlaskClient,
    left_signed_in: tuple[Resident, ResidentSession],
    reload: Callable[[str], Resident],
) -> None:
    resident, _ = left_signed_in
    response = client.post(
        "/account/change/phone", data={"csrf_token": any_csrf(client), "phone": "07700900123"}
    )
    _goes_to_confirm(response, "/account/change/phone")
    assert reload(resident.id).phone == resident.phone


def test_other_details_do_not_ask_again(
    client: FlaskClient,
    left_signed_in: tuple[Resident, ResidentSession],
    reload: Callable[[str], Resident],
) -> None:
    resident, _ = left_signed_in
    response = submit(client, "/account/change/text-relay", {"text_relay": "yes"})
    assert response.status_code == 302 and response.headers["Location"] == "/account"
    assert reload(resident.id).text_relay is True


def test_authenticator_app_cannot_be_added_from_an_unattended_browser(
    client: FlaskClient,
    left_signed_in: tuple[Resident, ResidentSession],
    reload: Callable[[str], Resident],
) -> None:
    resident, _ = left_signed_in
    _goes_to_confirm(
        client.get("/account/security/authenticator-app"), "/account/security/authenticator-app"
    )
    assert reload(resident.id).totp_secret is None  # no secret was shown or stored
    response = client.post(
        "/account/security/authenticator-app",
        data={"csrf_token": any_csrf(client), "code": "123456"},
    )
    _goes_to_confirm(response, "/account/security/authenticator-app")
    assert reload(resident.id).totp_enabled_at is None


def test_passkey_cannot_be_added_from_an_unattended_browser(
    app: Flask,
    client: FlaskClient,
    left_signed_in: tuple[Resident, ResidentSession],
    device: SoftPasskey,
) -> None:
    token = csrf_from(client.get("/account/security"))
    headers = {"X-CSRF-Token": token}
    options = client.post("/account/security/passkeys/options", json={}, headers=headers)
    assert options.status_code == 401
    assert options.get_json() == {
        "error": "For your security, confirm it is you first",
        "redirect": f"{CONFIRM}?next=/account/security",
    }
    verify = client.post("/account/security/passkeys/verify", json={}, headers=headers)
    assert verify.status_code == 401
    with in_app(app):
        assert list(db_session.scalars(select(PasskeyCredential))) == []


def test_passkey_cannot_be_removed_from_an_unattended_browser(
    app: Flask, client: FlaskClient, make_resident: Callable[..., Resident], device: SoftPasskey
) -> None:
    resident = make_resident()
    record = sign_in_client(app, client, resident)
    token = csrf_from(client.get("/account/security"))
    headers = {"X-CSRF-Token": token}
    options = client.post("/account/security/passkeys/options", json={}, headers=headers)
    added = client.post(
        "/account/security/passkeys/verify", json=device.create(options.get_json()), headers=headers
    )
    assert added.status_code == 200, added.get_json()
    with in_app(app):
        [passkey] = db_session.scalars(select(PasskeyCredential)).all()
    age_session(app, record, 20)
    url = f"/account/security/passkeys/{passkey.id}/remove"
    _goes_to_confirm(client.post(url, data={"csrf_token": any_csrf(client)}), url)
    with in_app(app):
        assert len(db_session.scalars(select(PasskeyCredential)).all()) == 1


@pytest.mark.parametrize(
    ("url", "extra"),
    [
        (
            "/account/change/password",
            {"password": "N3w-passphrase", "password_confirm": "N3w-passphrase"},
        ),
        ("/account/close", {}),
        ("/account/your-data/erase", {"understood": "yes"}),
    ],
)
def test_changes_that_ask_for_the_password_on_the_form_still_do(
    client: FlaskClient,
    left_signed_in: tuple[Resident, ResidentSession],
    reload: Callable[[str], Resident],
    url: str,
    extra: dict[str, str],
) -> None:
    """Stricter than the window: the password is asked for however recent the sign-in."""
    resident, _ = left_signed_in
    response = client.post(url, data={"csrf_token": any_csrf(client), **extra})
    assert response.status_code == 400
    assert "Enter your password" in text(response)
    stored = reload(resident.id)
    assert stored.password_hash == resident.password_hash and stored.is_active


def test_turning_off_the_app_asks_for_the_password_however_recent(
    app: Flask, client: FlaskClient, make_resident: Callable[..., Resident], reload: Any
) -> None:
    resident = make_resident(totp_secret=SECRET, totp_enabled_at=utcnow())
    sign_in_client(app, client, resident, ["pwd", "otp", "mfa"])
    url = "/account/security/authenticator-app/turn-off"
    assert client.post(url, data={"csrf_token": any_csrf(client)}).status_code == 400
    assert reload(resident.id).totp_enabled_at is not None


# --- allowed after confirming it is you -------------------------------------------------


def test_confirming_with_the_password_goes_back_with_what_was_typed(
    app: Flask,
    client: FlaskClient,
    left_signed_in: tuple[Resident, ResidentSession],
    outbox: Any,
) -> None:
    resident, record = left_signed_in
    before = auth_time(app, record)
    refused = client.post(
        "/account/change/email",
        data={"csrf_token": any_csrf(client), "email": "new-home@example.com"},
    )
    confirm = refused.headers["Location"]
    page = client.get(confirm)
    assert page.status_code == 200
    assert "Confirm it is you" in text(page) and "What you typed has been kept" in text(page)
    wrong = client.post(confirm, data={"csrf_token": csrf_from(page), "password": "not mine"})
    assert wrong.status_code == 400 and "Your password is not correct" in text(wrong)
    right = client.post(confirm, data={"csrf_token": csrf_from(page), "password": DEFAULT_PASSWORD})
    assert right.status_code == 302 and right.headers["Location"] == "/account/change/email"
    assert auth_time(app, record) > before
    form = client.get("/account/change/email")
    assert form.status_code == 200
    assert 'value="new-home@example.com"' in text(form)  # kept, not lost
    again = client.get("/account/change/email")
    assert 'value="new-home@example.com"' not in text(again)  # once only
    sent = client.post(
        "/account/change/email",
        data={"csrf_token": csrf_from(form), "email": "new-home@example.com"},
    )
    assert sent.status_code == 302 and sent.headers["Location"].endswith("/check-your-email")
    assert [m.recipient for m in outbox("change_email")] == ["new-home@example.com"]
    done = actions(app, resident.id)
    assert ("reauth.failed", {"method": "password"}) in done
    assert ("step_up.succeeded", {"method": "password"}) in done
    assert done[-1][0] == "email.change_requested"


def test_passwords_and_codes_typed_are_never_kept(
    app: Flask, client: FlaskClient, left_signed_in: tuple[Resident, ResidentSession]
) -> None:
    client.post(
        "/account/change/phone",
        data={"csrf_token": any_csrf(client), "phone": "07700900123", "password": "secret-1"},
    )
    with client.session_transaction() as cookie:
        kept = cookie["reauth_typed"]
    assert "07700900123" not in str(kept) and "secret-1" not in str(kept)  # sealed
    page = client.get(f"{CONFIRM}?next=/account/change/phone")
    client.post(
        f"{CONFIRM}?next=/account/change/phone",
        data={"csrf_token": csrf_from(page), "password": DEFAULT_PASSWORD},
    )
    form = text(client.get("/account/change/phone"))
    assert 'value="07700900123"' in form and "secret-1" not in form


def test_confirming_with_an_authenticator_code(
    app: Flask, client: FlaskClient, make_resident: Callable[..., Resident], reload: Any
) -> None:
    resident = make_resident(totp_secret=SECRET, totp_enabled_at=utcnow())
    record = sign_in_client(app, client, resident, ["pwd", "otp", "mfa"])
    age_session(app, record, 20)
    _goes_to_confirm(client.get("/account/change/phone"), "/account/change/phone")
    url = f"{CONFIRM}?next=/account/change/phone"
    page = client.get(url)
    assert 'name="code"' in text(page)
    assert client.post(url, data={"csrf_token": csrf_from(page), "code": "000000"}).status_code in (
        400,
        429,
    )
    code = pyotp.TOTP(SECRET).at(time.time())
    response = client.post(url, data={"csrf_token": csrf_from(page), "code": code})
    assert response.status_code == 302 and response.headers["Location"] == "/account/change/phone"
    changed = submit(client, "/account/change/phone", {"phone": "07700900123"})
    assert changed.status_code == 302
    assert reload(resident.id).phone == "07700900123"


def test_confirming_with_a_passkey(
    app: Flask, client: FlaskClient, make_resident: Callable[..., Resident], device: SoftPasskey
) -> None:
    resident = make_resident()
    record = sign_in_client(app, client, resident)
    token = csrf_from(client.get("/account/security"))
    headers = {"X-CSRF-Token": token}
    options = client.post("/account/security/passkeys/options", json={}, headers=headers)
    client.post(
        "/account/security/passkeys/verify", json=device.create(options.get_json()), headers=headers
    )
    age_session(app, record, 20)
    page = client.get(f"{CONFIRM}?next=/account/security/authenticator-app")
    assert "Use a passkey" in text(page)
    headers = {"X-CSRF-Token": csrf_from(page)}
    options = client.post("/sign-in/step-up/passkey/options", json={}, headers=headers)
    verified = client.post(
        "/sign-in/step-up/passkey/verify?next=/account/security/authenticator-app",
        json=device.get(options.get_json()),
        headers=headers,
    )
    assert verified.get_json() == {"redirect": "/account/security/authenticator-app"}
    assert client.get("/account/security/authenticator-app").status_code == 200


def test_a_card_session_is_offered_the_card(
    app: Flask, client: FlaskClient, make_resident: Callable[..., Resident]
) -> None:
    """Residents who signed in with card and PIN can confirm with it again (or a password)."""
    record = sign_in_client(app, client, make_resident(), ["sc", "pin"])
    age_session(app, record, 20)
    page = text(client.get(f"{CONFIRM}?next=/account/change/email"))
    assert 'href="/sign-in/card?next=/account/change/email"' in page
    assert 'name="password"' in page


def test_wrong_passwords_on_confirm_count_towards_the_sign_in_throttle(
    app: Flask, client: FlaskClient, left_signed_in: tuple[Resident, ResidentSession]
) -> None:
    page = client.get(CONFIRM)
    token = csrf_from(page)
    attempts = app.config["KENTCARD"].sign_in_free_attempts
    for _ in range(attempts):
        assert client.post(CONFIRM, data={"csrf_token": token, "password": "guess"}).status_code
    locked = client.post(CONFIRM, data={"csrf_token": token, "password": DEFAULT_PASSWORD})
    assert locked.status_code == 429
    _goes_to_confirm(client.get("/account/change/email"), "/account/change/email")


def test_confirm_never_sends_anyone_off_site(
    client: FlaskClient, left_signed_in: tuple[Resident, ResidentSession]
) -> None:
    url = f"{CONFIRM}?next=https://evil.example/"
    page = client.get(url)
    response = client.post(url, data={"csrf_token": csrf_from(page), "password": DEFAULT_PASSWORD})
    assert response.headers["Location"] == "/account"


def test_confirm_needs_sign_in(client: FlaskClient) -> None:
    response = client.get(CONFIRM)
    assert response.status_code == 302 and response.headers["Location"].startswith("/sign-in")


def test_an_empty_confirm_form_shows_the_error(
    client: FlaskClient, left_signed_in: tuple[Resident, ResidentSession]
) -> None:
    page = client.get(CONFIRM)
    response = client.post(CONFIRM, data={"csrf_token": csrf_from(page), "password": ""})
    assert response.status_code == 400 and "Enter your password" in text(response)
    assert "Error:" in text(response)


# --- the window -------------------------------------------------------------------------


def test_a_fresh_sign_in_needs_no_confirmation(
    app: Flask, client: FlaskClient, make_resident: Callable[..., Resident]
) -> None:
    sign_in_client(app, client, make_resident())
    assert client.get("/account/change/email").status_code == 200


@pytest.mark.parametrize(
    ("window_seconds", "age_minutes", "asks"), [(60, 2, True), (600, 2, False)]
)
def test_the_window_is_configurable(
    app: Flask,
    client: FlaskClient,
    make_resident: Callable[..., Resident],
    window: Callable[[int], None],
    window_seconds: int,
    age_minutes: int,
    asks: bool,
) -> None:
    window(window_seconds)
    record = sign_in_client(app, client, make_resident())
    age_session(app, record, age_minutes)
    response = client.get("/account/change/email")
    assert (response.status_code == 302) is asks


def test_the_default_window_is_five_minutes(
    app: Flask,
    client: FlaskClient,
    make_resident: Callable[..., Resident],
    monkeypatch: Any,
    tmp_path: Any,
) -> None:
    assert Settings.from_env(secret_key="x", instance_path=tmp_path).reauth_window == 300
    monkeypatch.setenv("KENTCARD_REAUTH_WINDOW", "120")
    assert Settings.from_env(secret_key="x", instance_path=tmp_path).reauth_window == 120
    record = sign_in_client(app, client, make_resident())
    age_session(app, record, 4.5)
    assert client.get("/account/change/email").status_code == 200
    age_session(app, record, 5.5)
    assert client.get("/account/change/email").status_code == 302
