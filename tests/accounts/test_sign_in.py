"""Signing in and out, waiting after repeated failures, and no user enumeration."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idservice.db import db_session
from idservice.models import AuditRecord, Resident, ResidentSession, SignInFailure
from idservice.services import signin, throttle
from tests.accounts.conftest import age_failures, in_app, submit, text
from tests.factories import DEFAULT_PASSWORD, sign_in_client


def _sign_in(client: FlaskClient, email: str, password: str, next_url: str = "") -> object:
    url = "/sign-in" + (f"?next={next_url}" if next_url else "")
    return submit(client, url, {"email": email, "password": password})


def _sessions(app: Flask, resident_id: str) -> list[ResidentSession]:
    with in_app(app):
        rows = list(
            db_session.scalars(
                select(ResidentSession).where(ResidentSession.resident_id == resident_id)
            )
        )
        db_session.expunge_all()
        return rows


def test_sign_in_page_has_the_fields_and_button(client: FlaskClient) -> None:
    html = text(client.get("/sign-in"))
    assert '<label class="kc-label" for="email">Email address</label>' in html
    assert '<label class="kc-label" for="password">Password</label>' in html
    assert '<button type="submit" class="kc-button">Sign in</button>' in html
    assert 'autocomplete="current-password"' in html


def test_sign_in_starts_a_password_session(
    app: Flask, client: FlaskClient, make_resident: Callable[..., Resident]
) -> None:
    resident = make_resident()
    response = _sign_in(client, resident.email, DEFAULT_PASSWORD)
    assert response.status_code == 302
    assert response.headers["Location"] == "/account"
    [record] = _sessions(app, resident.id)
    assert record.amr == ["pwd"]
    assert record.acr == "urn:kentcard:acr:password"
    assert "Your account" in text(client.get("/account"))


def test_sign_in_renews_the_session_id(
    app: Flask, client: FlaskClient, make_resident: Callable[..., Resident]
) -> None:
    resident = make_resident()
    old = sign_in_client(app, client, resident)
    _sign_in(client, resident.email, DEFAULT_PASSWORD)
    with client.session_transaction() as sess:
        assert sess["sid"] != old.id
    ended = {r.id: r.ended_at for r in _sessions(app, resident.id)}
    assert ended[old.id] is not None


def test_sign_in_goes_to_a_safe_next_page_only(
    client: FlaskClient, make_resident: Callable[..., Resident]
) -> None:
    resident = make_resident()
    response = _sign_in(client, resident.email, DEFAULT_PASSWORD, "/account/security")
    assert response.headers["Location"] == "/account/security"
    other = make_resident()
    response = _sign_in(client, other.email, DEFAULT_PASSWORD, "https://evil.example/")
    assert response.headers["Location"] == "/account"


@pytest.mark.parametrize("known", [True, False])
def test_wrong_password_and_unknown_email_look_the_same(
    client: FlaskClient, make_resident: Callable[..., Resident], known: bool
) -> None:
    email = make_resident().email if known else "nobody@example.com"
    response = _sign_in(client, email, "wrong password here")
    assert response.status_code == 400
    html = text(response)
    assert signin.WRONG_DETAILS in html
    assert f'value="{email}"' in html  # what was typed is kept
    assert "wrong password here" not in html  # but never the password


def _fail(client: FlaskClient, email: str, times: int = 5) -> list[tuple[int, str]]:
    outcomes = []
    for _ in range(times):
        response = _sign_in(client, email, "wrong password here")
        outcomes.append((response.status_code, text(response)))
    return outcomes


@pytest.mark.parametrize("known", [True, False])
def test_after_five_failures_that_browser_must_wait_even_with_the_right_password(
    app: Flask, client: FlaskClient, make_resident: Callable[..., Resident], known: bool
) -> None:
    """The source that failed waits (known and unknown addresses alike); see
    test_sign_in_throttle.py for the owner at another address."""
    email = make_resident().email if known else "nobody@example.com"
    outcomes = _fail(client, email)
    assert all(status == 400 and signin.WRONG_DETAILS in html for status, html in outcomes)
    response = _sign_in(client, email, DEFAULT_PASSWORD)
    assert response.status_code == 429
    assert signin.LOCKED in text(response)
    with in_app(app):
        assert db_session.scalar(select(ResidentSession.id)) is None


def test_waiting_is_per_account(
    client: FlaskClient, make_resident: Callable[..., Resident]
) -> None:
    slowed, other = make_resident(), make_resident()
    _fail(client, slowed.email)
    assert _sign_in(client, other.email, DEFAULT_PASSWORD).status_code == 302


def test_the_wait_ends(
    app: Flask, client: FlaskClient, make_resident: Callable[..., Resident]
) -> None:
    """Five failures from one browser: the first wait is 30 seconds, not a 15-minute lock."""
    resident = make_resident()
    _fail(client, resident.email)
    assert _sign_in(client, resident.email, DEFAULT_PASSWORD).status_code == 429
    age_failures(app, 31)
    assert _sign_in(client, resident.email, DEFAULT_PASSWORD).status_code == 302


def test_successful_sign_in_clears_the_accounts_failures_but_not_the_sources(
    app: Flask, client: FlaskClient, make_resident: Callable[..., Resident]
) -> None:
    resident = make_resident()
    for _ in range(4):
        _sign_in(client, resident.email, "wrong password here")
    assert _sign_in(client, resident.email, DEFAULT_PASSWORD).status_code == 302
    with in_app(app):
        keys = throttle.keys_for(resident.email, "127.0.0.1")
        left = list(db_session.scalars(select(SignInFailure.account_key)))
    # The source's own count stays, or signing in to an account of one's own would wipe it.
    assert left == [keys.source] * 4


def test_closed_account_cannot_sign_in(
    client: FlaskClient, make_resident: Callable[..., Resident]
) -> None:
    resident = make_resident(status="closed")
    response = _sign_in(client, resident.email, DEFAULT_PASSWORD)
    assert response.status_code == 400
    assert signin.WRONG_DETAILS in text(response)


def test_sign_in_is_audited_without_personal_data(
    app: Flask, client: FlaskClient, make_resident: Callable[..., Resident]
) -> None:
    resident = make_resident()
    _sign_in(client, resident.email, "wrong password here")
    _sign_in(client, resident.email, DEFAULT_PASSWORD)
    with in_app(app):
        actions = [
            (a.action, a.channel, a.details)
            for a in db_session.scalars(
                select(AuditRecord)
                .where(AuditRecord.resident_id == resident.id)
                .order_by(AuditRecord.id)
            )
        ]
    assert actions[-2:] == [
        ("sign_in.failed", "web", {"method": "password"}),
        ("sign_in.succeeded", "web", {"method": "password"}),
    ]


def test_sign_out_needs_a_post_with_a_csrf_token(
    app: Flask, client: FlaskClient, make_resident: Callable[..., Resident]
) -> None:
    resident = make_resident()
    record = sign_in_client(app, client, resident)
    response = client.post("/sign-out", data={"csrf_token": "forged"})
    assert response.status_code == 400
    assert "This page has expired" in text(response)
    assert client.get("/account").status_code == 200  # still signed in
    response = submit(client, "/sign-out", {}, page="/account")
    assert response.headers["Location"] == "/signed-out"
    assert client.get("/account").status_code == 302
    [stored] = _sessions(app, resident.id)
    assert stored.id == record.id and stored.ended_at is not None


def test_logs_never_contain_the_email_address(
    client: FlaskClient, make_resident: Callable[..., Resident], caplog: pytest.LogCaptureFixture
) -> None:
    resident = make_resident()
    caplog.set_level("DEBUG")
    _sign_in(client, resident.email, "wrong password here")
    _sign_in(client, resident.email, DEFAULT_PASSWORD)
    submit(client, "/forgot-password", {"email": resident.email})
    assert resident.email not in caplog.text
    assert "Lovelace" not in caplog.text
