"""Per-client rate limits (sign-in, registration, password reset, one-time codes), and
a limit on the email a stranger can cause to one address.

Fixed one-minute windows counted in process by default, or in Redis when
``settings.redis_url`` is set so that several gunicorn workers share the counts. This
caps the request rate from one address; the growing delays after failed sign-ins (per
account and address, per address, and the per-account ceiling) are in ``throttle.py``.

Emails to one recipient are counted per hour under a keyed hash of the address, so
neither memory nor Redis holds the address itself.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from flask import current_app

log = logging.getLogger(__name__)

SIGN_IN = "sign-in"
REGISTER = "register"
RESET = "reset"
ONE_TIME_CODE = "otp"
PASSKEY = "passkey"
MAIL_TO = "mail-to"

EXTENSION_KEY = "kentcard_rate_limiter"


class Backend(Protocol):
    def incr(self, key: str, ttl: int) -> int:
        """Add one to ``key`` (created with a lifetime of ``ttl`` seconds); the new count."""

    def reset(self) -> None:
        """Forget every count (tests, and an operator after an incident)."""


class MemoryBackend:
    """Counts in this process only: right for ``kentcard serve`` and tests."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._counts: dict[str, tuple[int, float]] = {}

    def incr(self, key: str, ttl: int) -> int:
        now = self._clock()
        with self._lock:
            count, expires = self._counts.get(key, (0, now + ttl))
            if expires <= now:
                count, expires = 0, now + ttl
            count += 1
            self._counts[key] = (count, expires)
            if len(self._counts) > 10_000:
                self._counts = {k: v for k, v in self._counts.items() if v[1] > now}
            return count

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()


class RedisBackend:
    """Counts shared by every worker through Redis (``INCR`` then ``EXPIRE``)."""

    def __init__(self, url: str, prefix: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._prefix = prefix

    def incr(self, key: str, ttl: int) -> int:
        pipe = self._redis.pipeline()
        pipe.incr(self._prefix + key)
        pipe.expire(self._prefix + key, ttl, nx=True)
        count, _ = pipe.execute()
        return int(count)

    def reset(self) -> None:
        keys = list(self._redis.scan_iter(match=self._prefix + "*"))
        if keys:
            self._redis.delete(*keys)


class RateLimiter:
    def __init__(
        self, backend: Backend, window: int = 60, clock: Callable[[], float] = time.time
    ) -> None:
        self.backend = backend
        self.window = window
        self._clock = clock

    def allow(self, action: str, client: str, limit: int, window: int | None = None) -> bool:
        """Count one attempt at ``action`` from ``client``; False once over ``limit`` in
        ``window`` seconds (the limiter's own window unless given).

        If the shared store is down the attempt is allowed (the sign-in throttle, kept in
        the database, still applies): residents must not be locked out of the council's
        services by a cache outage.
        """
        window = window or self.window
        bucket = int(self._clock() // window)
        try:
            count = self.backend.incr(f"{action}:{client}:{bucket}", window + 1)
        except Exception:
            log.warning("rate limiter unavailable; allowing %s", action, exc_info=True)
            return True
        return count <= limit

    def reset(self) -> None:
        self.backend.reset()


def build(redis_url: str | None, prefix: str = "kentcard:ratelimit:") -> RateLimiter:
    backend: Backend = RedisBackend(redis_url, prefix) if redis_url else MemoryBackend()
    return RateLimiter(backend)


def allow(action: str, client: str) -> bool:
    """Count an attempt from ``client`` against the app's limit for ``action``."""
    limiter: RateLimiter = current_app.extensions[EXTENSION_KEY]
    settings = current_app.config["KENTCARD"]
    limit = int(settings.extra.get("rate_limits", {}).get(action, settings.sign_in_rate_per_minute))
    return limiter.allow(action, client or "unknown", limit)


def allow_mail_to(recipient: str) -> bool:
    """Count one email a stranger's request would send to ``recipient``; False once over
    ``mail_per_recipient_per_hour``. The caller then sends nothing and shows the same page.
    """
    limiter: RateLimiter = current_app.extensions[EXTENSION_KEY]
    settings = current_app.config["KENTCARD"]
    secret = current_app.config["SECRET_KEY"].encode()
    key = hmac.new(secret, f"mail-to\x00{recipient.lower()}".encode(), hashlib.sha256)
    return limiter.allow(MAIL_TO, key.hexdigest(), settings.mail_per_recipient_per_hour, 3600)
