"""What the lean WSGI paths share.

Three requests are made thousands of times a minute by machines, and Flask's request
handling costs more than answering them: ``client_credentials`` tokens
(:mod:`idservice.oauth.lean`), online taps (:mod:`idservice.cards.lean`) and partner
checks (:mod:`idservice.partner_api.lean`). Each is answered in front of the Flask app
(one :class:`LeanRouter` for the three) by the same code as its view, and only when the
request is plain: a token by the same Authlib server, a tap or a check by the same use
case function as its view over a store of its own. Anything else goes on to Flask with
its body as it came. A tap or a check is refused here only when the view would refuse the
same request in the same words (the token was found good first), with the same
:func:`idservice.api_errors.error_response`; a token request's refusal is the Authlib
server's own, as in the view.
"""

from __future__ import annotations

import io
import logging
from typing import TYPE_CHECKING, Any, Protocol

from idservice.api_errors import ApiError, error_response
from idservice.headers import security_headers

if TYPE_CHECKING:
    from collections.abc import Iterable

    from flask import Flask, Response

log = logging.getLogger(__name__)

JSON_TYPE = "application/json"


def read_body(environ: dict[str, Any], mimetype: str, max_length: int | None) -> bytes | None:
    """The request body when it is ``mimetype`` and of a known length within
    ``max_length``, else None. Whatever was read is put back, so a later reader (Flask)
    sees the same bytes."""
    sent = environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower()
    if sent != mimetype:
        return None
    try:
        length = int(environ.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None
    if length < 0 or (max_length is not None and length > max_length):
        return None
    stream = environ["wsgi.input"]
    if environ.get("wsgi.input_terminated"):
        # The server marks the end of the body (granian does) and Werkzeug would read to
        # it: one byte more than announced shows whether there is more.
        body = stream.read(length + 1)
    else:
        body = stream.read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body if len(body) == length else None


class Fallback(Exception):
    """Leave this request to the Flask view."""


def service_token_claims(environ: dict[str, Any], scope: str) -> dict[str, Any]:
    """The claims of the request's bearer token when it is a current service token
    (client credentials) granted ``scope``; else :class:`Fallback`, and the view answers.
    Revocation and the client are for the caller's one query to check."""
    from idservice.oauth import scopes
    from idservice.oauth.tokens import is_service_token, verified_claims

    kind, _, token = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
    if kind.lower() != "bearer":
        raise Fallback
    claims = verified_claims(token.strip())
    if claims is None or not is_service_token(claims):
        raise Fallback
    if scope not in scopes.parse(str(claims.get("scope", ""))):
        raise Fallback
    return claims


class LeanEndpoint(Protocol):
    """One fast path, as the :class:`LeanRouter` sees it."""

    def route(self, path: str) -> Any | None:
        """What the path names when a ``POST`` to it is this endpoint's, else None."""

    def respond(
        self, environ: dict[str, Any], start_response: Any, route: Any
    ) -> Iterable[bytes] | None:
        """Answer the request, or None to leave it to Flask (its body put back)."""


class LeanRouter:
    """WSGI middleware in front of the Flask app: the one place a request is given to a
    fast path. Only a ``POST`` without a query string is looked at; the first endpoint
    whose :meth:`LeanEndpoint.route` claims the path answers it or hands it on."""

    def __init__(self, wrapped: Any) -> None:
        self.wrapped = wrapped
        self.endpoints: list[LeanEndpoint] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "POST" and not environ.get("QUERY_STRING"):
            path = environ.get("PATH_INFO", "")
            for endpoint in self.endpoints:
                route = endpoint.route(path)
                if route is not None:
                    answered = endpoint.respond(environ, start_response, route)
                    if answered is not None:
                        return answered
                    break
        return self.wrapped(environ, start_response)  # type: ignore[no-any-return]


ROUTER = "kentcard_lean_router"


def install(app: Flask, endpoint: LeanEndpoint) -> None:
    """Add a fast path to the app's one :class:`LeanRouter` (put in front of the app by
    the first call)."""
    router: LeanRouter | None = app.extensions.get(ROUTER)
    if router is None:
        router = app.extensions[ROUTER] = LeanRouter(app.wsgi_app)
        app.wsgi_app = router  # type: ignore[method-assign]
    router.endpoints.append(endpoint)


class LeanJsonEndpoint:
    """A fast path answering one kind of JSON ``POST``.

    A subclass says which requests are its own (:meth:`route`) and answers them
    (:meth:`answer`, raising :class:`Fallback` to hand the request to Flask, or an
    :class:`ApiError` the view would raise for the same request: it is answered as the
    API blueprints' handler answers it). An unexpected failure is logged and handed to
    Flask too: the subclasses write last, all or nothing, so the view can run the request
    afresh and answer as the API documents.
    """

    def __init__(self, app: Flask, *, no_store: bool = False) -> None:
        self.app = app
        self.max_length: int | None = app.config.get("MAX_CONTENT_LENGTH")
        # After Content-Type and Content-Length, what the views' and the app's
        # after-request hooks add, in the order Flask sends them.
        after = [("Cache-Control", "no-store")] if no_store else []
        self.after_headers = after + security_headers(hsts=app.config["SESSION_COOKIE_SECURE"])

    def route(self, path: str) -> Any | None:
        """What the path names when the request is this endpoint's, else None."""
        raise NotImplementedError

    def answer(self, environ: dict[str, Any], route: Any, body: bytes) -> bytes:
        """The JSON answer (status 200), an :class:`ApiError`, or :class:`Fallback`."""
        raise NotImplementedError

    def _answer_or_refusal(
        self, environ: dict[str, Any], route: Any, body: bytes
    ) -> bytes | Response:
        try:
            return self.answer(environ, route, body)
        except ApiError as error:
            return self.refusal(error)

    def refusal(self, error: ApiError) -> Response:
        """The API's answer to ``error``, with the headers the app's hooks add to it."""
        response = error_response(error)
        for name, value in self.after_headers:
            response.headers.setdefault(name, value)
        return response

    def respond(
        self, environ: dict[str, Any], start_response: Any, route: Any
    ) -> Iterable[bytes] | None:
        body = read_body(environ, JSON_TYPE, self.max_length)
        if not body:
            return None
        try:
            with self.app.app_context():
                answer = self._answer_or_refusal(environ, route, body)
        except Fallback:
            return None
        except Exception:
            log.exception("lean path failed on POST %s; handed to the view", environ["PATH_INFO"])
            return None
        if not isinstance(answer, bytes):
            return answer(environ, start_response)
        headers = [
            ("Content-Type", JSON_TYPE),
            ("Content-Length", str(len(answer))),
            *self.after_headers,
        ]
        start_response("200 OK", headers)
        return [answer]

    def json(self, value: Any) -> bytes:
        """``value`` as Flask's ``jsonify`` writes it outside debug mode."""
        from flask import current_app

        return current_app.json.dumps(value, separators=(",", ":")).encode() + b"\n"
