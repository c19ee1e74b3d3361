"""Bearer tokens on this service's own JSON APIs (RFC 6750).

The taps, card sign-in and partner APIs share these checks; their failures are the
errors of :mod:`idservice.api_errors`, answered with ``WWW-Authenticate`` as RFC 6750
section 3 asks.
"""

from __future__ import annotations

from flask import request

from idservice.api_errors import InsufficientScope, InvalidToken
from idservice.oauth import scopes
from idservice.oauth.tokens import FoundToken, verify_access_token


def bearer_token() -> FoundToken:
    """The request's valid access token, or 401 ``invalid_token``."""
    header = request.headers.get("Authorization", "")
    kind, _, token = header.partition(" ")
    if kind.lower() != "bearer" or not token.strip():
        raise InvalidToken("Send an access token: Authorization: Bearer <token>")
    found = verify_access_token(token.strip())
    if found is None or found.is_expired() or found.is_revoked():
        raise InvalidToken
    return found


def require_scope(found: FoundToken, scope: str) -> None:
    """403 ``insufficient_scope`` unless the token was granted ``scope``."""
    if scope not in scopes.parse(found.scope):
        raise InsufficientScope(f"The token needs the {scope} scope", scope=scope)
