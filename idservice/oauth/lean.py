"""A lean WSGI path for the machine-to-machine token request.

Partner services ask for a token with ``client_credentials`` many times a minute; each
answer is a few hundred bytes of JSON. Flask's request handling (request context, cookie
session, URL routing, form parsing through Werkzeug's request object, after-request
hooks) costs about as much as issuing the token itself, so that one request is handed
straight to the same Authlib ``AuthorizationServer``, with the same grant, client
authentication, token generator and error bodies, and an ``OAuth2Request`` built from the
WSGI environ.

Only the plain case takes this path: ``POST /oauth/token``, no query string, an
``application/x-www-form-urlencoded`` body of known length within ``MAX_CONTENT_LENGTH``
that decodes as UTF-8 and whose first ``grant_type`` is ``client_credentials``.
Anything else (other grants, other endpoints, odd requests) goes to Flask untouched; a
body read while deciding is handed on unchanged. The response carries the same headers as
the Flask view's (``Cache-Control: no-store``, ``Pragma: no-cache``, the security headers).
tests/oauth/test_lean_token_path.py sends the same requests through both paths and
compares the answers.
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import parse_qsl

from authlib.oauth2.rfc6749 import InsecureTransportError, OAuth2Payload, OAuth2Request
from werkzeug.datastructures import EnvironHeaders, MultiDict
from werkzeug.wrappers import Response as WerkzeugResponse
from werkzeug.wsgi import get_host

from idservice.db import db_session
from idservice.headers import security_headers
from idservice.lean import install as install_endpoint
from idservice.lean import read_body
from idservice.oauth.server import KentAuthorizationServer, configure_server
from idservice.request_input import NUL

if TYPE_CHECKING:
    from collections.abc import Iterable

    from flask import Flask, Response

log = logging.getLogger(__name__)

TOKEN_PATH = "/oauth/token"  # noqa: S105 - a path, not a secret
FORM_TYPE = "application/x-www-form-urlencoded"
GRANT = "client_credentials"


class LeanPayload(OAuth2Payload):  # type: ignore[misc]  # Authlib has no type hints
    """The form as Authlib reads it: ``data`` is a MultiDict, like Flask's ``values``."""

    def __init__(self, form: MultiDict[str, str]) -> None:
        self._form = form

    @property
    def data(self) -> MultiDict[str, str]:
        return self._form

    @property
    def datalist(self) -> dict[str, list[str]]:
        return {key: self._form.getlist(key) for key in self._form}


class LeanOAuth2Request(OAuth2Request):  # type: ignore[misc]  # Authlib has no type hints
    """An ``OAuth2Request`` from the WSGI environ, without Flask's request object.

    Built by Authlib's own constructor (which checks the transport), then given the form
    as Authlib's Flask integration gives it: the payload and ``form``; no query string.
    """

    def __init__(self, environ: dict[str, Any], form: MultiDict[str, str]) -> None:
        scheme = environ.get("wsgi.url_scheme", "http")
        path = f"{environ.get('SCRIPT_NAME', '')}{TOKEN_PATH}"
        uri = f"{scheme}://{get_host(environ)}{path}"
        super().__init__("POST", uri)
        # Given after: Authlib's ``headers or {}`` would count the headers, which walks
        # the whole environ on every request.
        self.headers = EnvironHeaders(environ)
        self.payload = LeanPayload(form)
        self._form = form

    @property
    def args(self) -> MultiDict[str, str]:
        return MultiDict()

    @property
    def form(self) -> MultiDict[str, str]:
        return self._form


class LeanResponse:
    """What the lean server answers: a status, headers and a JSON body, for WSGI."""

    def __init__(self, status_code: int, body: bytes, headers: list[tuple[str, str]]) -> None:
        self.status_code = status_code
        self.body = body
        self.headers = headers

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response(_status_line(self.status_code), self.headers)
        return [self.body]


@functools.lru_cache(maxsize=64)
def _status_line(code: int) -> str:
    """The status line Werkzeug (so Flask) writes for a code, e.g. ``400 BAD REQUEST``."""
    return WerkzeugResponse(status=code).status


class LeanAuthorizationServer(KentAuthorizationServer):
    """The same server, grants and client authentication, answering plain WSGI tuples.

    Built by the same ``configure_server`` as the Flask views' server; only the last step
    differs: the JSON is written as Flask's ``json.dumps`` writes it (the app's JSON
    provider) with the same headers, without a Werkzeug response object.
    """

    def __init__(self, app: Flask) -> None:
        super().__init__()
        self._dumps = app.json.dumps
        self._hsts = bool(app.config.get("SESSION_COOKIE_SECURE"))

    def handle_response(
        self, status_code: int, payload: Any, headers: list[tuple[str, str]]
    ) -> LeanResponse:
        text = self._dumps(payload) if isinstance(payload, dict) else str(payload)
        body = text.encode()
        out = list(headers)
        out.append(("Content-Length", str(len(body))))
        names = {name.lower() for name, _ in out}
        # What the app's after-request hook adds to every answer (idservice/web/setup.py).
        security = security_headers(hsts=self._hsts)
        out += [(name, value) for name, value in security if name.lower() not in names]
        return LeanResponse(status_code, body, out)


class LeanTokenEndpoint:
    """The plain client_credentials token request, answered by the same Authlib server."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.server = configure_server(LeanAuthorizationServer(app), app)
        self.max_length: int | None = app.config.get("MAX_CONTENT_LENGTH")

    def route(self, path: str) -> bool | None:
        return True if path == TOKEN_PATH else None

    def respond(
        self, environ: dict[str, Any], start_response: Any, route: Any
    ) -> Iterable[bytes] | None:
        form = self._read_form(environ)
        if form is None or form.get("grant_type") != GRANT:
            return None  # another grant, or not a plain form: Flask answers
        return self._respond(environ, form, start_response)

    def _read_form(self, environ: dict[str, Any]) -> MultiDict[str, str] | None:
        """The parsed form, or None to leave the request to Flask (body put back)."""
        body = read_body(environ, FORM_TYPE, self.max_length)
        if body is None:
            return None
        try:
            text = body.decode()
        except UnicodeDecodeError:
            return None
        # Exactly how Werkzeug parses a urlencoded form (werkzeug.formparser).
        pairs = parse_qsl(text, keep_blank_values=True, errors="werkzeug.url_quote")
        if any(NUL in key or NUL in value for key, value in pairs):
            return None  # Flask refuses it (request_input.refuse_nul_characters)
        return MultiDict(pairs)

    def _respond(
        self, environ: dict[str, Any], form: MultiDict[str, str], start_response: Any
    ) -> Iterable[bytes]:
        with self.app.app_context():
            try:
                request = LeanOAuth2Request(environ, form)
                response: Any = self.server.create_token_response(request)
                finish_endpoint_response(response)
            except InsecureTransportError:
                from idservice.web.setup import insecure_transport_response, json_security_headers

                response = insecure_transport_response()
                json_security_headers(response, hsts=self.server._hsts)
            except Exception:
                # As the app's error handler answers on an API path, logged the same way.
                log.exception("unhandled error on POST %s", TOKEN_PATH)
                if db_session.registry.has():
                    db_session.rollback()
                response = server_error_response(hsts=self.server._hsts)
            return response(environ, start_response)  # type: ignore[no-any-return]


class _Answer(Protocol):
    status_code: int


A = TypeVar("A", bound=_Answer)


def finish_endpoint_response(response: A) -> A:
    """Commit what an endpoint wrote only when it succeeded: an error issues nothing."""
    if not db_session.registry.has():
        return response  # the database was not touched (a service token from cached data)
    session = db_session()
    if not session.in_transaction():
        return response  # nothing read or written
    if response.status_code == 200:
        session.commit()
    else:
        session.rollback()
    return response


def server_error_response(*, hsts: bool) -> Response:
    """The app's JSON answer to an unexpected error on an API path, with its headers."""
    from idservice.web.setup import json_error_response, json_security_headers

    response = json_error_response(500)
    json_security_headers(response, hsts=hsts)
    return response


def install(app: Flask) -> None:
    """Give the token request a fast path in front of the Flask app (tests can take it
    out again)."""
    install_endpoint(app, LeanTokenEndpoint(app))
