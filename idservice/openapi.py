"""One OpenAPI 3 document for the service's own JSON APIs, served at ``/api/v1/openapi.json``.

flask-smorest generates it from the marshmallow schemas the APIs answer through: the
partner entitlement API (:mod:`idservice.partner_api`), reader taps and card sign-in
(:mod:`idservice.cards`), readers' offline lists (:mod:`idservice.snapshots`). Each
package registers its blueprints and its security scheme on the one :class:`ServiceApi`
:func:`api_for` keeps per app; each operation declares the
failures it can answer, all in the one error shape (:class:`idservice.api_errors.ErrorSchema`).
``/api/v1/docs`` lists the operations as a plain page (:mod:`idservice.partner_api.pages`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from flask_smorest import Api

from idservice.api_errors import ErrorSchema

if TYPE_CHECKING:
    from flask import Flask
    from flask_smorest import Blueprint

API_EXTENSION = "kentcard_api"
CONFIG_PREFIX = "KENTCARD_"

_TEXT = {"schema": {"type": "string"}}
#: Response headers of the documented failures.
WWW_AUTHENTICATE = {"WWW-Authenticate": {**_TEXT, "description": "RFC 6750 challenge"}}
RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait"}}
#: The words for the failures every bearer-token operation can answer.
BEARER_ERRORS: dict[int, str] = {
    401: "invalid_token: no, a malformed, an expired or a revoked token",
    403: "insufficient_scope: the token lacks the scope for this",
}


class ServiceApi(Api):  # type: ignore[misc]  # flask-smorest has no type hints
    """flask-smorest's ``Api`` with the service's error shape, and no app-wide handler.

    ``Api`` would register an error handler for every HTTP error in the whole app,
    replacing the site's error pages; each API blueprint handles its own instead
    (:func:`idservice.api_errors.register`).
    """

    ERROR_SCHEMA = ErrorSchema

    def _register_error_handlers(self) -> None:
        pass


def api_for(app: Flask) -> ServiceApi:
    """The app's one API document (made on first use)."""
    existing = app.extensions.get(API_EXTENSION)
    if existing is not None:
        return existing  # type: ignore[no-any-return]
    for key, value in {
        "API_TITLE": "Kent Card APIs",
        "API_VERSION": "1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api/v1",
        "OPENAPI_JSON_PATH": "openapi.json",
        "API_SPEC_OPTIONS": {
            "info": {
                "description": "Partner services ask whether a Kent Card or a resident holds "
                "a council or partner service, and nothing more; registered readers ask for "
                "the decision on a tap, fetch their signed offline list and sign a browser in "
                "with card and PIN. Every failure "
                'is a JSON body `{"error": code, "message": words}` (validation failures add '
                "`errors`). See docs/partner-api.md, docs/card-protocol.md and docs/readers.md."
            },
        },
    }.items():
        app.config.setdefault(CONFIG_PREFIX + key, value)
    api = ServiceApi(app, config_prefix=CONFIG_PREFIX)
    app.extensions[API_EXTENSION] = api
    return api


def json_body(schema: type[Any]) -> dict[str, Any]:
    """An operation's documented request body (for views that read it themselves)."""
    return {"required": True, "content": {"application/json": {"schema": schema}}}


#: The headers each documented failure status carries (idservice/api_errors.py).
_ERROR_HEADERS = {401: WWW_AUTHENTICATE, 403: WWW_AUTHENTICATE, 429: RETRY_AFTER}


def document_errors(bp: Blueprint, words: Mapping[int, str]) -> Callable[[Any], Any]:
    """Declare each failure an operation can answer (status: words), in the error shape."""

    def decorate(func: Any) -> Any:
        for status in sorted(words, reverse=True):
            func = bp.alt_response(
                status,
                schema=ErrorSchema,
                description=words[status],
                headers=_ERROR_HEADERS.get(status),
            )(func)
        return func

    return decorate
