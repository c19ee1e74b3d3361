"""Where this browser's forms may lead: the CSP ``form-action`` sources beyond 'self'.

Every page's forms post to this service, so ``form-action 'self'`` would do, but for one
thing: Chromium applies ``form-action`` to the redirects that follow a form submission
as well, and the forms of an authorization request end in a redirect to the service's
redirect URI (the consent page's Allow and Cancel, and the sign-in, code, step-up and
card pages, whose answer goes through /oauth/authorize straight on to the service when
consent was given before). So while an authorization request is waiting for the
resident, the origin of its redirect URI, already checked against the client's
registered ones, is kept in the browser's session and added to ``form-action`` on
every page, for ``LIFETIME`` seconds or until the service gets its answer. An injected
form still cannot send anything anywhere else.
"""

from __future__ import annotations

import re
import time
from urllib.parse import urlsplit

from flask import session

SESSION_KEY = "oauth_form_targets"
#: Long enough to sign in, register or find a card; the entry goes when the answer is sent.
LIFETIME = 1800
#: Authorization requests waiting at once in one browser (tabs); the oldest goes first.
MAX_TARGETS = 4
#: A CSP host-source host: letters, digits, dots and hyphens (no IPv6 literals).
_HOST = re.compile(r"^[a-z0-9.-]+$")


def origin_of(uri: str) -> str | None:
    """``scheme://host[:port]`` of an http(s) URI, as a CSP source; None if not one."""
    parts = urlsplit(uri)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not _HOST.match(host):
        return None
    try:
        port = parts.port
    except ValueError:
        return None
    return f"{parts.scheme}://{host}:{port}" if port else f"{parts.scheme}://{host}"


def _stored(now: float) -> dict[str, float]:
    raw = session.get(SESSION_KEY)
    if not isinstance(raw, dict):
        return {}
    return {
        str(origin): float(until)
        for origin, until in raw.items()
        if isinstance(until, int | float) and until > now
    }


def allow(redirect_uri: str) -> None:
    """Let this browser's forms lead to a checked redirect URI's origin for a while."""
    origin = origin_of(redirect_uri)
    if origin is None:
        return
    now = time.time()
    targets = _stored(now)
    targets.pop(origin, None)
    targets[origin] = int(now + LIFETIME)
    newest = sorted(targets.items(), key=lambda item: item[1])[-MAX_TARGETS:]
    session[SESSION_KEY] = dict(newest)


def forget(redirect_uri: str) -> None:
    """The service has its answer: its origin is no longer needed."""
    origin = origin_of(redirect_uri)
    if origin is None or SESSION_KEY not in session:
        return
    targets = _stored(time.time())
    targets.pop(origin, None)
    if targets:
        session[SESSION_KEY] = targets
    else:
        session.pop(SESSION_KEY, None)


def sources() -> list[str]:
    """The ``form-action`` sources for this response: 'self' and any waiting origins."""
    extra = sorted(_stored(time.time())) if SESSION_KEY in session else []
    return ["'self'", *extra]
