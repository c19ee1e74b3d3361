"""The error contract of this service's own JSON APIs (everything under ``/api/``).

Every failure is ``{"error": code, "message": words}`` (validation failures add
``errors``, field name to messages) with ``Cache-Control: no-store``;
``WWW-Authenticate`` on 401 and on 403 ``insufficient_scope`` (RFC 6750 section 3),
``Retry-After`` on 429 and ``Allow`` on 405. Each error is a class carrying its HTTP
status and wire code as class attributes, as Authlib's ``OAuth2Error`` subclasses carry
theirs; the message defaults to the class's and may be given per raise. The body is
:class:`ErrorSchema`, the one schema every operation's failures are documented with in
the OpenAPI document (:mod:`idservice.openapi`).

:func:`error_response` renders every one of them: for the handlers :func:`register` puts
on each API blueprint, for the app's handler on API paths outside a blueprint's routes
(idservice/web/setup.py) and for the lean WSGI paths (idservice/lean.py), so no two
places can answer differently. The OAuth endpoints keep RFC 6749's shape (Authlib's
errors, docs/oidc.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import marshmallow as ma
from marshmallow import fields
from werkzeug.exceptions import HTTPException

from idservice.request_input import InputRefused

if TYPE_CHECKING:
    from flask import Blueprint, Response


class ErrorSchema(ma.Schema):
    """Every failure: a code to branch on, words for a person, and field details."""

    error = fields.String(
        required=True,
        metadata={"description": "The code to branch on: each response lists its own"},
    )
    message = fields.String(required=True, metadata={"description": "What went wrong, in words"})
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata={"description": "For validation failures: each field and what is wrong with it"},
    )


#: Dumps every error body (one instance: nothing is built per request).
ERROR_SCHEMA = ErrorSchema()


class ApiError(Exception):
    """A documented API failure: ``status`` and ``code`` (the wire ``error``) per class."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "server_error"
    message: str = "Sorry, there is a problem with the service"

    def __init__(
        self,
        message: str | None = None,
        *,
        errors: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        if message is not None:
            self.message = message
        super().__init__(self.message)
        self.errors = errors
        self.headers = dict(headers or {})

    def challenge(self) -> str | None:
        """The ``WWW-Authenticate`` value this error is answered with, if any."""
        return None


class InvalidRequest(ApiError):
    status, code = 400, "invalid_request"
    message = "Send a JSON object"


class InvalidFields(InvalidRequest):
    """Fields missing, malformed or unknown: ``errors`` says which."""

    status = 422
    message = "Some fields are not valid"


class InvalidToken(ApiError):
    status, code = 401, "invalid_token"
    message = "The access token is not valid or has expired"

    def challenge(self) -> str:
        return f'Bearer error="{self.code}"'


class Unauthorised(ApiError):
    status, code = 401, "unauthorized"
    message = "Unauthorized"

    def challenge(self) -> str:
        return "Bearer"


class InsufficientScope(ApiError):
    """403: the token lacks ``scope`` (named in ``WWW-Authenticate`` when known)."""

    status, code = 403, "insufficient_scope"

    def __init__(self, message: str, *, scope: str | None = None) -> None:
        super().__init__(message)
        self.scope = scope

    def challenge(self) -> str:
        needed = f', scope="{self.scope}"' if self.scope else ""
        return f'Bearer error="insufficient_scope"{needed}'


class Forbidden(ApiError):
    status, code = 403, "forbidden"
    message = "You cannot see this page"


class NotFoundError(ApiError):
    status, code = 404, "not_found"
    message = "Page not found"


class MethodNotAllowed(ApiError):
    status, code = 405, "method_not_allowed"
    message = "Sorry, you cannot do that here"


class RequestTooLarge(ApiError):
    status, code = 413, "request_too_large"
    message = "What you sent is too large"


class TooManyRequests(ApiError):
    status, code = 429, "too_many_requests"
    message = "You have tried too many times"


class RateLimited(ApiError):
    """429 with ``Retry-After``: a client over its limit."""

    status, code = 429, "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after)})


class ServerError(ApiError):
    """500: never a stack trace."""


#: The answer to an HTTP error raised outside an API's own checks, by status.
_BY_STATUS: dict[int, type[ApiError]] = {
    cls.status: cls
    for cls in (
        InvalidRequest,
        Unauthorised,
        Forbidden,
        NotFoundError,
        MethodNotAllowed,
        RequestTooLarge,
        TooManyRequests,
    )
}


def from_http_exception(exc: HTTPException) -> ApiError:
    """A Werkzeug HTTP error (routing, body limits, webargs' validation) as an API error."""
    code = exc.code or 500
    if code == 422:  # webargs: messages keyed by location ("json"); callers need the fields
        data = getattr(exc, "data", None) or {}
        messages = data.get("messages") or data.get("errors") or {}
        fields: dict[str, Any] = {}
        for location in messages.values() if isinstance(messages, dict) else ():
            if isinstance(location, dict):
                fields.update({k: _as_list(v) for k, v in location.items()})
        return InvalidFields(errors=fields)
    if isinstance(exc, InputRefused):  # too large or too deeply nested: say which
        return InvalidRequest(exc.message)
    error = _BY_STATUS.get(code, ServerError)()
    if code == 405 and getattr(exc, "valid_methods", None):  # RFC 9110: say what works
        error.headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
    return error


def _as_list(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    if isinstance(value, dict):  # a nested field: flatten its messages
        return [f"{k}: {m}" for k, v in value.items() for m in _as_list(v)]
    return [str(value)]


def error_response(exc: ApiError) -> Response:
    """The answer to ``exc``, with its status and headers (needs an app context)."""
    from flask import jsonify

    body: dict[str, Any] = {"error": exc.code, "message": exc.message}
    if exc.errors:
        body["errors"] = exc.errors
    response = jsonify(ERROR_SCHEMA.dump(body))
    response.status_code = exc.status
    response.headers.update(exc.headers)
    response.headers["Cache-Control"] = "no-store"
    challenge = exc.challenge()
    if challenge is not None:
        response.headers["WWW-Authenticate"] = challenge
    return response


def _api_error(exc: ApiError) -> Response:
    return error_response(exc)


def _http_error(exc: HTTPException) -> Response:
    return error_response(from_http_exception(exc))


def register(bp: Blueprint) -> None:
    """Answer every error raised in ``bp``'s views and hooks by this contract."""
    bp.register_error_handler(ApiError, _api_error)
    bp.register_error_handler(HTTPException, _http_error)
