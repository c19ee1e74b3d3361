"""Per-address rate limits, in process and in Redis."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from idservice.db import db_session
from idservice.models import Resident, SignInFailure
from idservice.services import ratelimit
from idservice.web.pages import TOO_MANY
from tests.accounts.conftest import in_app, submit, text
from tests.factories import DEFAULT_PASSWORD

REDIS_URL = "redis://127.0.0.1:6379/0"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> Iterator[ratelimit.Backend]:
    if request.param == "memory":
        yield ratelimit.MemoryBackend()
        return
    redis_backend = ratelimit.RedisBackend(REDIS_URL, f"kentcard-test:{secrets.token_hex(8)}:")
    yield redis_backend
    redis_backend.reset()


def test_limit_per_client_per_window(backend: ratelimit.Backend) -> None:
    clock = Clock()
    limiter = ratelimit.RateLimiter(backend, window=60, clock=clock)
    assert [limiter.allow("sign-in", "192.0.2.1", 3) for _ in range(4)] == [
        True,
        True,
        True,
        False,
    ]
    assert limiter.allow("sign-in", "192.0.2.2", 3)  # another address
    assert limiter.allow("register", "192.0.2.1", 3)  # another action
    clock.now += 60
    assert limiter.allow("sign-in", "192.0.2.1", 3)  # a new window


def test_reset_forgets_counts(backend: ratelimit.Backend) -> None:
    limiter = ratelimit.RateLimiter(backend)
    for _ in range(2):
        limiter.allow("otp", "192.0.2.1", 1)
    assert not limiter.allow("otp", "192.0.2.1", 1)
    limiter.reset()
    assert limiter.allow("otp", "192.0.2.1", 1)


def test_redis_keys_expire() -> None:
    import redis

    prefix = f"kentcard-test:{secrets.token_hex(8)}:"
    backend = ratelimit.RedisBackend(REDIS_URL, prefix)
    try:
        ratelimit.RateLimiter(backend, window=60).allow("sign-in", "192.0.2.1", 5)
        conn = redis.Redis.from_url(REDIS_URL)
        [key] = list(conn.scan_iter(match=prefix + "*"))
        assert 0 < conn.ttl(key) <= 61
    finally:
        backend.reset()


def test_an_unreachable_redis_does_not_lock_residents_out() -> None:
    limiter = ratelimit.RateLimiter(ratelimit.RedisBackend("redis://127.0.0.1:1/0", "x:"))
    assert limiter.allow("sign-in", "192.0.2.1", 0)


def test_build_chooses_redis_when_configured() -> None:
    assert isinstance(ratelimit.build(None).backend, ratelimit.MemoryBackend)
    assert isinstance(ratelimit.build(REDIS_URL).backend, ratelimit.RedisBackend)


@pytest.fixture(params=["memory", "redis"])
def app_limits(
    request: pytest.FixtureRequest, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """The app with a limit of 3 a minute, counted in process or in Redis."""
    monkeypatch.setitem(
        app.config["KENTCARD"].extra,
        "rate_limits",
        dict.fromkeys(("sign-in", "register", "reset", "otp", "passkey"), 3),
    )
    # A fixed clock: a test must not straddle two one-minute windows.
    backend: ratelimit.Backend
    if request.param == "redis":
        backend = ratelimit.RedisBackend(REDIS_URL, f"kentcard-test:{secrets.token_hex(8)}:")
    else:
        backend = ratelimit.MemoryBackend()
    limiter = ratelimit.RateLimiter(backend, clock=Clock())
    monkeypatch.setitem(app.extensions, ratelimit.EXTENSION_KEY, limiter)
    yield
    limiter.reset()


def test_sign_in_is_limited_per_address(
    app: Flask, client: FlaskClient, app_limits: None, make_resident: Callable[..., Resident]
) -> None:
    resident = make_resident()
    for _ in range(3):
        response = submit(client, "/sign-in", {"email": "x@example.com", "password": "wrong one!"})
        assert response.status_code == 400
    response = submit(client, "/sign-in", {"email": resident.email, "password": DEFAULT_PASSWORD})
    assert response.status_code == 429
    assert TOO_MANY in text(response)
    assert f'value="{resident.email}"' in text(response)
    assert client.get("/account").status_code == 302
    with in_app(app):  # the refused attempt was not even checked (3 keyed counts a failure)
        assert db_session.scalar(select(func.count()).select_from(SignInFailure)) == 3 * 3
    other_address = app.test_client()
    response = other_address.post(
        "/sign-in",
        data={"email": resident.email, "password": DEFAULT_PASSWORD, "csrf_token": "x"},
        environ_base={"REMOTE_ADDR": "192.0.2.99"},
    )
    assert response.status_code == 400  # counted separately (and then fails on CSRF)


@pytest.mark.parametrize(
    ("url", "data", "status"),
    [
        ("/register", {"email": "someone@example.com"}, 400),  # other answers missing
        ("/forgot-password", {"email": "someone@example.com"}, 302),
    ],
)
def test_registration_and_reset_are_limited(
    client: FlaskClient, app_limits: None, url: str, data: dict[str, str], status: int
) -> None:
    for _ in range(3):
        assert submit(client, url, data).status_code == status
    response = submit(client, url, data)
    assert response.status_code == 429
    assert TOO_MANY in text(response)


def test_one_time_codes_are_limited(
    client: FlaskClient, app_limits: None, make_resident: Callable[..., Resident]
) -> None:
    from idservice.models.base import utcnow

    resident = make_resident(totp_secret="JBSWY3DPEHPK3PXP", totp_enabled_at=utcnow())
    submit(client, "/sign-in", {"email": resident.email, "password": DEFAULT_PASSWORD})
    for _ in range(3):
        assert submit(client, "/sign-in/code", {"code": "12"}).status_code == 400
    assert submit(client, "/sign-in/code", {"code": "123456"}).status_code == 429
