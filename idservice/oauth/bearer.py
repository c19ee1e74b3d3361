"""Bearer tokens on this service's own JSON APIs (RFC 6750), and their error contract.

Every API under ``/api/v1`` answers failures as ``{"error": code, "message": words}``
(plus ``errors``, field name to messages, for validation failures), with
``WWW-Authenticate`` on 401 and 403 as RFC 6750 section 3 asks. The taps API and the
partner API share this module so the two cannot drift apart.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request

from idservice.oauth import scopes
from idservice.oauth.tokens import FoundToken, verify_access_token


class ApiError(Exception):
    """A documented API failure; ``scope`` names the scope a 403 needed."""

    def __init__(
        self,
        status: int,
        error: str,
        message: str,
        *,
        scope: str | None = None,
        errors: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message
        self.scope, self.errors, self.headers = scope, errors, dict(headers or {})


def error_response(exc: ApiError) -> tuple[Response, int]:
    body: dict[str, Any] = {"error": exc.error, "message": exc.message}
    if exc.errors:
        body["errors"] = exc.errors
    response = jsonify(body)
    response.headers.update(exc.headers)
    response.headers["Cache-Control"] = "no-store"
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = f'Bearer error="{exc.error}"'
    elif exc.status == 403 and exc.error == "insufficient_scope":
        needed = f', scope="{exc.scope}"' if exc.scope else ""
        response.headers["WWW-Authenticate"] = f'Bearer error="insufficient_scope"{needed}'
    return response, exc.status


def bearer_token() -> FoundToken:
    """The request's valid access token, or 401 ``invalid_token``."""
    header = request.headers.get("Authorization", "")
    kind, _, token = header.partition(" ")
    if kind.lower() != "bearer" or not token.strip():
        raise ApiError(401, "invalid_token", "Send an access token: Authorization: Bearer <token>")
    found = verify_access_token(token.strip())
    if found is None or found.is_expired() or found.is_revoked():
        raise ApiError(401, "invalid_token", "The access token is not valid or has expired")
    return found


def require_scope(found: FoundToken, scope: str) -> None:
    """403 ``insufficient_scope`` unless the token was granted ``scope``."""
    if scope not in scopes.parse(found.scope):
        raise ApiError(403, "insufficient_scope", f"The token needs the {scope} scope", scope=scope)
