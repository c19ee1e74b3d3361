"""Failed sign-ins slow down the source that fails, never the owner somewhere else
(docs/sign-in-protection.md): per account and source, per source, and the per-account
ceiling that pauses password sign-in until a reset link proves the owner."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from idservice.db import db_session
from idservice.models import Resident, ResidentSession, SignInFailure
from idservice.services import signin, throttle
from tests.accounts.conftest import age_failures, client_at, in_app, link_in, submit, text
from tests.accounts.test_totp import SECRET, code_at
from tests.factories import DEFAULT_PASSWORD

ATTACKER = "203.0.113.66"
OWNER = "198.51.100.7"


def _sign_in(client: FlaskClient, email: str, password: str) -> Any:
    return submit(client, "/sign-in", {"email": email, "password": password})


def _fail(client: FlaskClient, email: str, times: int) -> list[int]:
    return [_sign_in(client, email, "wrong password here").status_code for _ in range(times)]


@pytest.fixture
def policy(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Change the throttle's numbers for one test (the defaults need hundreds of tries)."""

    def set_numbers(**numbers: int) -> None:
        for name, value in numbers.items():
            monkeypatch.setattr(app.config["KENTCARD"], name, value, raising=False)

    return set_numbers


@pytest.mark.parametrize("failures", [5, 12])
def test_an_attacker_cannot_keep_the_owner_out(
    app: Flask, make_resident: Callable[..., Resident], failures: int
) -> None:
    """Issue 10, finding 2: wrong passwords from one address (in any case) used to lock the
    account for 15 minutes even against the right password from anywhere."""
    resident = make_resident()
    attacker = client_at(app, ATTACKER)
    statuses = _fail(attacker, resident.email.upper(), failures)
    assert statuses == [400] * 5 + [429] * (failures - 5)  # that address waits
    assert _sign_in(attacker, resident.email, DEFAULT_PASSWORD).status_code == 429
    owner = client_at(app, OWNER)
    response = _sign_in(owner, resident.email, DEFAULT_PASSWORD)
    assert response.status_code == 302
    assert response.headers["Location"] == "/account"
    assert owner.get("/account").status_code == 200


def test_the_owner_with_an_authenticator_app_still_needs_the_code(
    app: Flask, make_resident: Callable[..., Resident]
) -> None:
    from idservice.models.base import utcnow

    resident = make_resident(totp_secret=SECRET, totp_enabled_at=utcnow())
    attacker = client_at(app, ATTACKER)
    _sign_in(attacker, resident.email, DEFAULT_PASSWORD)  # the password leaked
    for _ in range(6):
        submit(attacker, "/sign-in/code", {"code": "123456"})
    assert _sign_in(attacker, resident.email, DEFAULT_PASSWORD).status_code == 429
    owner = client_at(app, OWNER)
    response = _sign_in(owner, resident.email, DEFAULT_PASSWORD)
    assert response.headers["Location"] == "/sign-in/code"
    assert owner.get("/account").status_code == 302  # nothing without the code
    assert submit(owner, "/sign-in/code", {"code": code_at()}).status_code == 302
    assert owner.get("/account").status_code == 200


def test_the_wait_doubles_after_each_further_failure(
    app: Flask, make_resident: Callable[..., Resident]
) -> None:
    resident = make_resident()
    attacker = client_at(app, ATTACKER)
    _fail(attacker, resident.email, 5)
    for wait in (30, 60, 120):
        assert _sign_in(attacker, resident.email, DEFAULT_PASSWORD).status_code == 429
        age_failures(app, wait - 2)
        refused = _sign_in(attacker, resident.email, DEFAULT_PASSWORD)
        assert refused.status_code == 429, f"the wait was shorter than {wait} seconds"
        assert signin.LOCKED in text(refused)
        age_failures(app, 3)
        assert _fail(attacker, resident.email, 1) == [400]  # checked again, and wrong
    age_failures(app, 241)
    assert _sign_in(attacker, resident.email, DEFAULT_PASSWORD).status_code == 302


def test_the_delays_grow_to_a_cap() -> None:
    assert [throttle.delay(n, 5, 30, 900) for n in range(4, 12)] == [
        0,
        30,
        60,
        120,
        240,
        480,
        900,
        900,
    ]
    assert throttle.delay(10_000, 5, 30, 900) == 900


def test_a_refused_attempt_is_not_checked_or_counted(
    app: Flask, make_resident: Callable[..., Resident]
) -> None:
    resident = make_resident()
    attacker = client_at(app, ATTACKER)
    _fail(attacker, resident.email, 5)
    with in_app(app):
        before = db_session.scalar(select(func.count()).select_from(SignInFailure))
    for _ in range(3):
        assert _sign_in(attacker, resident.email, "another guess").status_code == 429
    with in_app(app):
        after = db_session.scalar(select(func.count()).select_from(SignInFailure))
    assert after == before


def test_one_source_guessing_across_many_accounts_is_slowed_down(
    app: Flask, make_resident: Callable[..., Resident], policy: Callable[..., None]
) -> None:
    """Each account was tried once only: the source's own count slows it down."""
    policy(sign_in_source_free_attempts=6)
    residents = [make_resident() for _ in range(7)]
    attacker = client_at(app, ATTACKER)
    for resident in residents[:6]:
        assert _fail(attacker, resident.email, 1) == [400]
    last = residents[6]
    refused = _sign_in(attacker, last.email, DEFAULT_PASSWORD)
    assert refused.status_code == 429
    assert signin.LOCKED in text(refused)
    # Nobody else is slowed down: the owners sign in from their own addresses.
    for number, resident in enumerate(residents):
        owner = client_at(app, f"198.51.100.{number + 10}")
        assert _sign_in(owner, resident.email, DEFAULT_PASSWORD).status_code == 302


def test_an_ipv6_source_is_its_slash_64() -> None:
    assert throttle.source_of("2001:db8:1:2:aaaa::1") == throttle.source_of("2001:db8:1:2::ffff")
    assert throttle.source_of("2001:db8:1:3::1") != throttle.source_of("2001:db8:1:2::1")
    assert throttle.source_of("::ffff:192.0.2.1") == "192.0.2.1"
    assert throttle.source_of("192.0.2.1") != throttle.source_of("192.0.2.2")


@pytest.mark.parametrize("known", [True, False])
def test_at_the_ceiling_password_sign_in_pauses_for_every_address_alike(
    app: Flask, make_resident: Callable[..., Resident], policy: Callable[..., None], known: bool
) -> None:
    """Slow guessing from many addresses: at the ceiling neither a right nor a wrong
    password is checked, with the same answer whether or not the account exists."""
    policy(sign_in_account_ceiling=8)
    email = make_resident().email if known else "nobody@example.com"
    for number in range(8):
        assert _fail(client_at(app, f"203.0.113.{number + 1}"), email, 1) == [400]
    owner = client_at(app, OWNER)
    for password in (DEFAULT_PASSWORD, "wrong password here"):
        response = _sign_in(owner, email, password)
        assert response.status_code == 429
        assert signin.PAUSED in text(response)
    with in_app(app):
        assert db_session.scalar(select(ResidentSession.id)) is None


def test_a_reset_link_ends_the_pause(
    app: Flask,
    make_resident: Callable[..., Resident],
    policy: Callable[..., None],
    outbox: Callable[..., Any],
) -> None:
    policy(sign_in_account_ceiling=8)
    resident = make_resident()
    for number in range(8):
        _fail(client_at(app, f"203.0.113.{number + 1}"), resident.email, 1)
    owner = client_at(app, OWNER)
    assert _sign_in(owner, resident.email, DEFAULT_PASSWORD).status_code == 429
    submit(owner, "/forgot-password", {"email": resident.email})
    new = "a new password for kent"
    link = link_in(outbox("reset_password")[0])
    assert submit(owner, link, {"password": new, "password_confirm": new}).status_code == 302
    assert _sign_in(owner, resident.email, new).status_code == 302


def test_wrong_codes_count_towards_the_ceiling(
    app: Flask, make_resident: Callable[..., Resident], policy: Callable[..., None]
) -> None:
    """Someone who has the password cannot guess codes from many addresses for ever."""
    from idservice.models.base import utcnow

    policy(sign_in_account_ceiling=6)
    resident = make_resident(totp_secret=SECRET, totp_enabled_at=utcnow())
    for number in range(3):
        attacker = client_at(app, f"203.0.113.{number + 1}")
        _sign_in(attacker, resident.email, DEFAULT_PASSWORD)
        for _ in range(2):
            assert submit(attacker, "/sign-in/code", {"code": "123456"}).status_code == 400
    attacker = client_at(app, "203.0.113.99")
    assert _sign_in(attacker, resident.email, DEFAULT_PASSWORD).status_code == 429
