"""A stranger can cause only a few emails an hour to one address (issue 10: one person
sent 19 "already registered" and reset emails to one address in one second)."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from idservice.models import Resident
from idservice.services import ratelimit
from tests.accounts.conftest import in_app, submit
from tests.accounts.test_rate_limits import REDIS_URL, Clock
from tests.accounts.test_timing import _registration


@pytest.fixture
def clock(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    """The app's limiter on a clock the test moves, counting in process."""
    now = Clock()
    limiter = ratelimit.RateLimiter(ratelimit.MemoryBackend(), clock=now)
    monkeypatch.setitem(app.extensions, ratelimit.EXTENSION_KEY, limiter)
    yield now
    limiter.reset()


def _ask_for_resets(client: FlaskClient, email: str, times: int) -> set[tuple[int, str]]:
    answers = set()
    for _ in range(times):
        response = submit(client, "/forgot-password", {"email": email})
        answers.add((response.status_code, response.headers.get("Location", "")))
    return answers


def test_reset_emails_to_one_address_are_limited_per_hour(
    client: FlaskClient,
    make_resident: Callable[..., Resident],
    outbox: Callable[..., Any],
    clock: Clock,
) -> None:
    resident = make_resident()
    answers = _ask_for_resets(client, resident.email, 19)
    assert answers == {(302, "/forgot-password/check-your-email")}  # the page never differs
    assert len(outbox("reset_password")) == 5
    # Another address is not affected, nor the same one an hour later.
    other = make_resident()
    _ask_for_resets(client, other.email, 1)
    assert len(outbox("reset_password", recipient=other.email)) == 1
    clock.now += 3600
    _ask_for_resets(client, resident.email.upper(), 1)
    assert len(outbox("reset_password", recipient=resident.email)) == 6


def test_already_registered_emails_share_the_limit(
    app: Flask,
    client: FlaskClient,
    make_resident: Callable[..., Resident],
    outbox: Callable[..., Any],
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(app.config["KENTCARD"], "mail_per_recipient_per_hour", 3, raising=False)
    resident = make_resident()
    _ask_for_resets(client, resident.email, 2)
    for _ in range(3):
        response = submit(client, "/register", _registration(resident.email))
        assert response.headers["Location"] == "/register/check-your-email"
    assert len(outbox("reset_password")) == 2
    assert len(outbox("already_registered")) == 1


@pytest.mark.parametrize("store", ["memory", "redis"])
def test_the_counts_hold_no_address(
    app: Flask, store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend: ratelimit.Backend
    prefix = f"kentcard-test:{secrets.token_hex(8)}:"
    if store == "redis":
        backend = ratelimit.RedisBackend(REDIS_URL, prefix)
    else:
        backend = ratelimit.MemoryBackend()
    limiter = ratelimit.RateLimiter(backend)
    email = "Someone.Private@Example.com"
    monkeypatch.setitem(app.extensions, ratelimit.EXTENSION_KEY, limiter)
    with in_app(app):
        assert ratelimit.allow_mail_to(email)
    if store == "redis":
        import redis

        keys = [k.decode() for k in redis.Redis.from_url(REDIS_URL).scan_iter(match=prefix + "*")]
        backend.reset()
    else:
        keys = list(backend._counts)  # type: ignore[attr-defined]
    assert len(keys) == 1
    assert "someone" not in keys[0].lower() and "example" not in keys[0].lower()
