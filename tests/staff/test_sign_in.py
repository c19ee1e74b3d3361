"""Staff sign-in: password then authenticator app (set up at the first sign-in), growing
waits after failures, rate limits, the short idle timeout, and staff and resident sessions
kept apart."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idservice.db import db_session
from idservice.models import Resident, ResidentSession, StaffMember, StaffSession
from idservice.models.base import utcnow
from tests.accounts.conftest import age_failures, client_at, in_app, submit, text
from tests.factories import DEFAULT_PASSWORD, STAFF_PASSWORD, sign_in_client, sign_in_staff

SECRET = re.compile(r'id="totp-secret"><strong class="kc-code">([A-Z2-7 ]+)</strong>')


def _password(client: FlaskClient, email: str, password: str = STAFF_PASSWORD) -> str:
    response = submit(client, "/staff/sign-in", {"email": email, "password": password})
    assert response.status_code == 302, text(response)
    return response.headers["Location"]


def _stored(app: Flask, staff_id: str) -> StaffMember:
    with in_app(app):
        staff = db_session.get(StaffMember, staff_id)
        assert staff is not None
        db_session.expunge(staff)
        return staff


def test_first_sign_in_sets_up_the_authenticator_app_before_anything_else(
    app: Flask, client: FlaskClient, make_staff: Callable[..., StaffMember], audit_rows
) -> None:
    staff = make_staff(authenticator=False)
    assert _password(client, staff.email) == "/staff/sign-in/set-up-authenticator-app"
    # The password alone opens nothing in the console.
    for path in ("/staff/", "/staff/search", "/staff/audit"):
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/staff/sign-in")
    page = client.get("/staff/sign-in/set-up-authenticator-app")
    match = SECRET.search(text(page))
    assert match, "the secret key is not on the page"
    secret = match.group(1).replace(" ", "")
    # Looking at the setup page stores nothing; a reload shows the same secret.
    assert _stored(app, staff.id).totp_secret is None
    again = SECRET.search(text(client.get("/staff/sign-in/set-up-authenticator-app")))
    assert again and again.group(1).replace(" ", "") == secret
    assert _stored(app, staff.id).totp_secret is None

    wrong = submit(client, "/staff/sign-in/set-up-authenticator-app", {"code": "000000"})
    assert wrong.status_code == 400
    assert "The code is not correct" in text(wrong)
    assert _stored(app, staff.id).totp_enabled_at is None

    done = submit(
        client, "/staff/sign-in/set-up-authenticator-app", {"code": pyotp.TOTP(secret).now()}
    )
    assert done.status_code == 302
    assert done.headers["Location"] == "/staff/"
    assert client.get("/staff/").status_code == 200
    assert _stored(app, staff.id).totp_enabled_at is not None
    assert _stored(app, staff.id).totp_secret == secret
    added = audit_rows("staff.second_factor_added")
    assert [(a.actor_type, a.actor_id, a.resident_id) for a in added] == [("staff", staff.id, None)]
    assert [a.actor_id for a in audit_rows("staff.signed_in")] == [staff.id]


def test_sign_in_with_password_and_code(
    app: Flask, client: FlaskClient, make_staff: Callable[..., StaffMember]
) -> None:
    staff = make_staff()
    assert _password(client, staff.email.upper()) == "/staff/sign-in/code"
    assert client.get("/staff/").status_code == 302
    code = pyotp.TOTP(str(staff.totp_secret)).now()
    response = submit(client, "/staff/sign-in/code", {"code": code})
    assert response.status_code == 302
    assert client.get("/staff/").status_code == 200
    with in_app(app):
        sessions = list(db_session.scalars(select(StaffSession)))
    assert [s.staff_id for s in sessions] == [staff.id]


def test_wrong_password_keeps_the_email_and_says_so_next_to_the_field(
    client: FlaskClient, make_staff: Callable[..., StaffMember]
) -> None:
    staff = make_staff()
    response = submit(client, "/staff/sign-in", {"email": staff.email, "password": "wrong one"})
    assert response.status_code == 400
    body = text(response)
    assert 'id="email-error"' in body
    assert f'value="{staff.email}"' in body
    assert "wrong one" not in body


def test_a_code_cannot_be_used_twice_and_wrong_codes_count_towards_the_lockout(
    app: Flask, make_staff: Callable[..., StaffMember]
) -> None:
    staff = make_staff()
    first = app.test_client()
    _password(first, staff.email)
    code = pyotp.TOTP(str(staff.totp_secret)).now()
    assert submit(first, "/staff/sign-in/code", {"code": code}).status_code == 302
    second = app.test_client()
    _password(second, staff.email)
    assert submit(second, "/staff/sign-in/code", {"code": code}).status_code == 400


def test_after_five_failures_that_browser_must_wait_even_with_the_right_password(
    app: Flask, client: FlaskClient, make_staff: Callable[..., StaffMember]
) -> None:
    staff = make_staff()
    for _ in range(5):
        response = submit(client, "/staff/sign-in", {"email": staff.email, "password": "nope"})
        assert response.status_code == 400
    waiting = submit(client, "/staff/sign-in", {"email": staff.email, "password": STAFF_PASSWORD})
    assert waiting.status_code == 429
    assert "too many times" in text(waiting)
    age_failures(app, 31)  # the first wait is 30 seconds
    assert _password(client, staff.email) == "/staff/sign-in/code"


def test_an_attacker_cannot_keep_a_member_of_staff_out(
    app: Flask, make_staff: Callable[..., StaffMember]
) -> None:
    """Issue 10, finding 2 for staff: failures from one address used to lock the account."""
    staff = make_staff()
    attacker = client_at(app, "203.0.113.66")
    statuses = [
        submit(
            attacker, "/staff/sign-in", {"email": staff.email.upper(), "password": "nope"}
        ).status_code
        for _ in range(8)
    ]
    assert statuses == [400] * 5 + [429] * 3
    counter = client_at(app, "198.51.100.7")
    assert _password(counter, staff.email) == "/staff/sign-in/code"
    code = pyotp.TOTP(str(staff.totp_secret)).now()
    assert submit(counter, "/staff/sign-in/code", {"code": code}).status_code == 302
    assert counter.get("/staff/").status_code == 200


def test_wrong_codes_slow_down_only_the_browser_that_sent_them(
    app: Flask, make_staff: Callable[..., StaffMember]
) -> None:
    staff = make_staff()
    attacker = client_at(app, "203.0.113.66")
    _password(attacker, staff.email)
    for _ in range(5):
        assert submit(attacker, "/staff/sign-in/code", {"code": "000000"}).status_code == 400
    refused = submit(attacker, "/staff/sign-in/code", {"code": "000000"})
    assert refused.status_code == 429
    counter = client_at(app, "198.51.100.7")
    _password(counter, staff.email)
    code = pyotp.TOTP(str(staff.totp_secret)).now()
    assert submit(counter, "/staff/sign-in/code", {"code": code}).status_code == 302


def test_at_the_ceiling_staff_sign_in_pauses_until_an_administrator_resumes_it(
    app: Flask,
    make_staff: Callable[..., StaffMember],
    monkeypatch: pytest.MonkeyPatch,
    audit_rows: Callable[..., Any],
) -> None:
    from idservice.staff import auth

    monkeypatch.setattr(app.config["KENTCARD"], "sign_in_account_ceiling", 6, raising=False)
    staff = make_staff()
    counter = client_at(app, "198.51.100.7")
    for email in (staff.email, "nobody@kent.example"):  # the same for an unknown address
        for number in range(6):
            attacker = client_at(app, f"203.0.113.{number + 1}")
            response = submit(attacker, "/staff/sign-in", {"email": email, "password": "nope"})
            assert response.status_code == 400
        paused = submit(counter, "/staff/sign-in", {"email": email, "password": STAFF_PASSWORD})
        assert paused.status_code == 429
        assert auth.PAUSED in text(paused)
    with in_app(app):
        assert auth.resume_sign_in(staff.email) is not None
        assert auth.resume_sign_in("nobody@kent.example") is None
    assert _password(counter, staff.email) == "/staff/sign-in/code"
    [resumed] = audit_rows("staff.sign_in_resumed")
    assert resumed.details == {"staff_id": staff.id}


def test_the_half_signed_in_cookie_is_single_use(
    app: Flask, make_staff: Callable[..., StaffMember]
) -> None:
    """Issue 10: the cookie from between the password and the code kept reaching the code
    page for 10 minutes after the sign-in had finished."""
    staff = make_staff()
    browser = app.test_client()
    _password(browser, staff.email)
    half_signed_in = browser.get_cookie("kentcard")
    assert half_signed_in is not None
    code = pyotp.TOTP(str(staff.totp_secret)).now()
    assert submit(browser, "/staff/sign-in/code", {"code": code}).status_code == 302
    copy = app.test_client()
    copy.set_cookie("kentcard", half_signed_in.value)
    page = copy.get("/staff/sign-in/code")
    assert page.status_code == 302
    assert page.headers["Location"] == "/staff/sign-in"
    # A fresh password step still works.
    assert _password(copy, staff.email) == "/staff/sign-in/code"
    assert copy.get("/staff/sign-in/code").status_code == 200


def test_staff_lockout_keys_are_separate_from_residents(
    app: Flask,
    client: FlaskClient,
    make_staff: Callable[..., StaffMember],
    make_resident: Callable[..., Resident],
) -> None:
    """Five failed resident sign-ins with the same address do not lock the staff account."""
    staff = make_staff(email="same.person@kent.example")
    make_resident(email="same.person@kent.example")
    for _ in range(5):
        submit(client, "/sign-in", {"email": staff.email, "password": "not it at all"})
    assert _password(client, staff.email) == "/staff/sign-in/code"


def test_sign_in_is_rate_limited_per_address(app: Flask, client: FlaskClient) -> None:
    statuses = [
        client.post("/staff/sign-in", data={"email": "a@kent.example"}).status_code
        for _ in range(31)
    ]
    assert statuses[:30] == [400] * 30
    assert statuses[30] == 429


def test_inactive_staff_cannot_sign_in(
    client: FlaskClient, make_staff: Callable[..., StaffMember]
) -> None:
    staff = make_staff(active=False)
    response = submit(client, "/staff/sign-in", {"email": staff.email, "password": STAFF_PASSWORD})
    assert response.status_code == 400


def test_staff_session_ends_after_thirty_idle_minutes(
    app: Flask, client: FlaskClient, make_staff: Callable[..., StaffMember]
) -> None:
    staff = make_staff()
    record = sign_in_staff(app, client, staff)
    assert client.get("/staff/").status_code == 200
    with in_app(app):
        row = db_session.get(StaffSession, record.id)
        assert row is not None
        row.last_seen_at = utcnow() - timedelta(minutes=31)
        db_session.commit()
    response = client.get("/staff/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/staff/sign-in")


def test_sign_out_ends_the_session_row(
    app: Flask, client: FlaskClient, make_staff: Callable[..., StaffMember]
) -> None:
    staff = make_staff()
    record = sign_in_staff(app, client, staff)
    response = submit(client, "/staff/sign-out", {})
    assert response.headers["Location"] == "/staff/signed-out"
    with in_app(app):
        row = db_session.get(StaffSession, record.id)
        assert row is not None and row.ended_at is not None
    assert client.get("/staff/").status_code == 302


def test_a_staff_session_is_not_a_resident_session(
    app: Flask, client: FlaskClient, make_staff: Callable[..., StaffMember]
) -> None:
    staff = make_staff()
    record = sign_in_staff(app, client, staff)
    response = client.get("/account")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/sign-in")
    # Even a staff session id put where a resident's goes is not a resident session.
    with client.session_transaction() as sess:
        sess["sid"] = record.id
    assert client.get("/account").status_code == 302


def test_a_resident_session_is_not_a_staff_session(
    app: Flask, client: FlaskClient, make_resident: Callable[..., Resident]
) -> None:
    resident = make_resident()
    record = sign_in_client(app, client, resident)
    assert client.get("/account").status_code == 200
    assert client.get("/staff/").status_code == 302
    with client.session_transaction() as sess:
        sess["staff_sid"] = record.id
    assert client.get("/staff/").status_code == 302
    assert client.get("/staff/search").status_code == 302


def test_staff_sign_in_signs_a_resident_out_of_the_same_browser(
    app: Flask,
    client: FlaskClient,
    make_resident: Callable[..., Resident],
    make_staff: Callable[..., StaffMember],
) -> None:
    resident = make_resident()
    record = sign_in_client(app, client, resident)
    staff = make_staff()
    _password(client, staff.email)
    submit(client, "/staff/sign-in/code", {"code": pyotp.TOTP(str(staff.totp_secret)).now()})
    assert client.get("/staff/").status_code == 200
    assert client.get("/account").status_code == 302
    with in_app(app):
        row = db_session.get(ResidentSession, record.id)
        assert row is not None and row.ended_at is not None


def test_resident_sign_in_ends_the_staff_session_of_the_same_browser(
    app: Flask,
    client: FlaskClient,
    make_resident: Callable[..., Resident],
    make_staff: Callable[..., StaffMember],
) -> None:
    """The other way round too, and the staff row ends rather than only leaving the cookie:
    a copy of the cookie taken before the resident signed in no longer opens the console."""
    staff = make_staff()
    record = sign_in_staff(app, client, staff)
    assert client.get("/staff/").status_code == 200
    with client.session_transaction() as sess:
        copied = dict(sess)
    resident = make_resident()
    response = submit(client, "/sign-in", {"email": resident.email, "password": DEFAULT_PASSWORD})
    assert response.status_code == 302
    assert client.get("/account").status_code == 200
    assert client.get("/staff/").status_code == 302
    with in_app(app):
        row = db_session.get(StaffSession, record.id)
        assert row is not None and row.ended_at is not None
    with client.session_transaction() as sess:
        sess.clear()
        sess.update(copied)
    assert client.get("/staff/").status_code == 302


def test_a_second_staff_sign_in_ends_the_first_session(
    app: Flask, client: FlaskClient, make_staff: Callable[..., StaffMember]
) -> None:
    staff = make_staff()
    first = sign_in_staff(app, client, staff)
    _password(client, staff.email)
    submit(client, "/staff/sign-in/code", {"code": pyotp.TOTP(str(staff.totp_secret)).now()})
    assert client.get("/staff/").status_code == 200
    with in_app(app):
        row = db_session.get(StaffSession, first.id)
        assert row is not None and row.ended_at is not None


def test_resident_sign_in_with_staff_credentials_fails(
    client: FlaskClient, make_staff: Callable[..., StaffMember]
) -> None:
    staff = make_staff()
    response = submit(client, "/sign-in", {"email": staff.email, "password": STAFF_PASSWORD})
    assert response.status_code == 400
