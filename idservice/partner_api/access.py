"""Who may ask a partner check, and how often: what the view's ``before_request`` hook
and the lean path (``partner_api/lean.py``) both decide before a check is answered.

The partner behind a service token comes from its registration (the same client cache
the token endpoint uses); the service must be in the catalogue; each partner's checks
are counted against its rate limit (per worker, or in Redis across workers).
"""

from __future__ import annotations

import functools
import time

from flask import current_app

from idservice.api_errors import InvalidToken, RateLimited
from idservice.oauth import scopes
from idservice.oauth.dao import dao_get_client
from idservice.oauth.server import CLIENT_CACHE
from idservice.partner_api import checks
from idservice.services import ratelimit

RATE_LIMIT_ACTION = "partner-api"
#: Checks per client per minute in each worker (Redis: in all workers) unless
#: ``rate_limits["partner-api"]`` is configured.
DEFAULT_RATE_PER_MINUTE = 120_000


@functools.cache
def service_codes() -> frozenset[str]:
    return frozenset(checks.catalogue().codes)


def partner_for(client_id: str) -> checks.Partner:
    """The partner a current token's ``client_id`` names; 401 if it was withdrawn."""
    client = current_app.extensions[CLIENT_CACHE].get(client_id, dao_get_client)
    if client is None:  # withdrawn since the token was checked
        raise InvalidToken
    return checks.Partner(
        client_id=client.client_id,
        name=client.name,
        sector=client.sector,
        registered=frozenset(scopes.parse(client.scope)),
    )


def within_rate_limit(client_id: str) -> bool:
    """Count one check against the partner's limit; False when over it."""
    limiter: ratelimit.RateLimiter = current_app.extensions[ratelimit.EXTENSION_KEY]
    settings = current_app.config["KENTCARD"]
    limits = settings.extra.get("rate_limits", {})
    limit = int(limits.get(RATE_LIMIT_ACTION, DEFAULT_RATE_PER_MINUTE))
    return limiter.allow(RATE_LIMIT_ACTION, client_id, limit)


def rate_limited() -> RateLimited:
    """429 ``rate_limited``, with the seconds until the limiter's window turns."""
    limiter: ratelimit.RateLimiter = current_app.extensions[ratelimit.EXTENSION_KEY]
    wait = int(limiter.window - time.time() % limiter.window) + 1
    message = f"Too many requests from this service: try again in {wait} seconds"
    return RateLimited(message, retry_after=wait)


def admit(partner: checks.Partner) -> None:
    """Count the check against the partner's rate limit: 429 ``rate_limited`` when over."""
    if not within_rate_limit(partner.client_id):
        raise rate_limited()
