"""Registers blueprints, template helpers, security headers and error pages."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from authlib.oauth2.rfc6749 import InsecureTransportError
from flask import has_request_context, jsonify, make_response, render_template, request
from werkzeug.exceptions import HTTPException

from idservice import api_errors
from idservice.auth.sessions import current_resident
from idservice.headers import security_headers
from idservice.oauth import form_targets
from idservice.request_input import InputRefused
from idservice.services import ratelimit
from idservice.services.residents import NotFound
from idservice.web.csrf import csrf_token

if TYPE_CHECKING:
    from flask import Flask, Response

log = logging.getLogger(__name__)

#: Paths answered as JSON errors rather than pages.
JSON_PREFIXES = ("/oauth/", "/api/", "/.well-known/")
#: Our own APIs answer by :mod:`idservice.api_errors`; OAuth endpoints keep RFC 6749's shape.
API_PREFIX = "/api/"


def init_app(app: Flask) -> None:
    _register_rate_limiter(app)
    _register_blueprints(app)
    _register_template_helpers(app)
    _register_security_headers(app)
    _register_error_handlers(app)


def _register_rate_limiter(app: Flask) -> None:
    settings = app.config["KENTCARD"]
    app.extensions[ratelimit.EXTENSION_KEY] = ratelimit.build(
        settings.redis_url, settings.extra.get("rate_limit_prefix", "kentcard:ratelimit:")
    )


def _register_blueprints(app: Flask) -> None:
    """The pages, then each package's own (OAuth, staff, cards, partner API), and the demo
    hook that grants entitlements to demonstration records."""
    # Importing these modules adds their routes to the accounts blueprint.
    from idservice.web import (  # noqa: F401
        account_settings,
        card_sign_in,
        reauth,
        registration,
        security,
        your_data,
    )
    from idservice.web.accounts import bp as accounts_bp
    from idservice.web.core import bp as core_bp
    from idservice.web.services_pages import services as _services  # noqa: F401

    app.register_blueprint(core_bp)
    app.register_blueprint(accounts_bp)
    from idservice.oauth import init_app as init_oauth

    init_oauth(app)
    from idservice.staff import init_app as init_staff

    init_staff(app)
    from idservice.cards import init_app as init_cards

    init_cards(app)
    from idservice.snapshots import init_app as init_snapshots

    init_snapshots(app)
    from idservice.partner_api import init_app as init_partner_api

    init_partner_api(app)
    from idservice.services.demo_entitlements import grant_demo_entitlements

    app.extensions.setdefault("kentcard_demo_hooks", []).append(grant_demo_entitlements)


def _register_template_helpers(app: Flask) -> None:
    # A global, not only a context variable: imported macros (csrf_field) do not see the
    # context of the page that imports them.
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.context_processor(_template_globals)


def _template_globals() -> dict[str, Any]:
    if not has_request_context():
        return {"current_resident": None}  # an email rendered by a command or a worker
    try:
        resident = current_resident()
    except Exception:  # an error page must render even when the database is down
        log.warning("could not look up the signed-in resident", exc_info=True)
        resident = None
    return {"current_resident": resident}


def _register_security_headers(app: Flask) -> None:
    @app.after_request
    def _security_headers(response: Response) -> Response:
        # A page's headers mean nothing to a machine reading JSON: only pages get them.
        page = content_security_policy() if response.mimetype == "text/html" else None
        hsts = app.config["SESSION_COOKIE_SECURE"]
        for name, value in security_headers(hsts=hsts, page_policy=page):
            response.headers.setdefault(name, value)
        return response


def _register_error_handlers(app: Flask) -> None:
    app.register_error_handler(NotFound, _not_found)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(InsecureTransportError, _insecure_transport)
    app.register_error_handler(Exception, _unexpected)


def _wants_json() -> bool:
    return request.path.startswith(JSON_PREFIXES)


def _not_found(_exc: NotFound) -> Any:
    """A look-up found nothing (services and data access raise it): 404, in one place."""
    if request.path.startswith(API_PREFIX):
        return api_errors.error_response(api_errors.NotFoundError())
    return _error_response(404, "not_found", "Page not found")


def _http_error(exc: HTTPException) -> Any:
    code = exc.code or 500
    if request.path.startswith(API_PREFIX):  # outside an API blueprint's routes
        return api_errors.error_response(api_errors.from_http_exception(exc))
    if isinstance(exc, InputRefused):  # the message says what was wrong with the input
        if request.is_json and not _wants_json():  # the pages' scripts: {"error": words}
            return jsonify(error=exc.message), code
        return _error_response(code, _error_code(code), exc.message)
    response = _error_response(code, _error_code(code), _TITLES.get(code, exc.name))
    if code == 405 and getattr(exc, "valid_methods", None):  # RFC 9110: say what works
        answer = make_response(response)
        answer.headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
        return answer
    return response


def _insecure_transport(_exc: InsecureTransportError) -> Any:
    # Authlib refuses OAuth over plain http (outside loopback) before its own error
    # handling runs; without this the client saw a 500. Usually a proxy that does not
    # say it terminated TLS: KENTCARD_PROXY_HOPS.
    return insecure_transport_response()


def _unexpected(exc: Exception) -> Any:
    log.exception("unhandled error on %s %s", request.method, request.path)
    if request.path.startswith(API_PREFIX):
        return api_errors.error_response(api_errors.ServerError())
    return _error_response(500, "server_error", "Sorry, there is a problem with the service")


def _error_response(code: int, error: str, title: str) -> Any:
    if _wants_json():
        return json_error_response(code, error, title)
    return render_template("errors/error.html", code=code, title=title), code


def json_security_headers(response: Response, *, hsts: bool) -> None:
    """The headers every answer gets, JSON ones included (the lean token path uses it)."""
    for name, value in security_headers(hsts=hsts):
        response.headers.setdefault(name, value)


def json_error_response(code: int, error: str | None = None, title: str | None = None) -> Response:
    """``{"error", "error_description"}`` for an API path (needs an app context)."""
    response = jsonify(error=error or _error_code(code), error_description=title or _TITLES[code])
    response.status_code = code
    return response


#: What a client is told when an OAuth request came over plain http from outside.
INSECURE_TRANSPORT_MESSAGE = "OAuth requests must use HTTPS"


def insecure_transport_response() -> Response:
    """400 ``invalid_request`` for OAuth over plain http (needs an app context)."""
    response = json_error_response(400, "invalid_request", INSECURE_TRANSPORT_MESSAGE)
    response.headers["Cache-Control"] = "no-store"
    return response


_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'; form-action {form_action}; base-uri 'none'"
)


def content_security_policy() -> str:
    """The page policy; forms post only here, or lead to a service waiting for an answer
    from this browser (idservice/oauth/form_targets.py)."""
    return _CSP.format(form_action=" ".join(form_targets.sources()))


_TITLES = {
    400: "Sorry, there is a problem with what was sent",
    403: "You cannot see this page",
    404: "Page not found",
    405: "Sorry, you cannot do that here",
    413: "What you sent is too large",
    429: "You have tried too many times",
    500: "Sorry, there is a problem with the service",
}


def _error_code(code: int) -> str:
    return {
        400: "invalid_request",
        401: "unauthorized",
        403: "forbidden",
        404: "not_found",
        405: "method_not_allowed",
        413: "request_too_large",
        429: "too_many_requests",
    }.get(code, "server_error")
