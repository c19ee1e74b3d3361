"""A lean WSGI path for ``POST /api/v1/taps``, the request every bus and library gate makes.

A reader's tap must be decided in a few milliseconds at thousands a second. Through Flask,
request handling (request context, routing, the cookie session, after-request hooks) and
the ORM cost more than deciding the tap, so the plain, well-formed tap is decided here on
the WSGI environ, with the same functions as the Flask view (``idservice.cards.api``):

* the bearer token's signature is checked once and its claims kept until it expires
  (:func:`idservice.oauth.tokens.verified_claims`);
* one statement, in autocommit, says whether the reader's client is still active and its
  token not revoked, and reads the card with its resident's entitlements for the mode
  (:func:`idservice.cards.dao.dao_tap_lookup`); one INSERT records the tap.

Anything else goes to the Flask view untouched, with the body it sent: another path or
method, a query string, a body that is not a JSON object of known length within
``MAX_CONTENT_LENGTH``, no bearer token or one that is not a current service token with
``taps:write``, a client withdrawn or a token revoked, a body the view would refuse, a
stale challenge, an unreadable issuer keyring, or a replayed answer (the INSERT refused
it, so nothing was written; the view refuses it again). So every error answer is the
view's own, and this path only ever answers 200. tests/cards/test_lean_tap_path.py sends
the same taps through both paths and compares the answers.
"""

from __future__ import annotations

import io
import json
import logging
from datetime import date
from typing import TYPE_CHECKING, Any

from flask import current_app
from sqlalchemy.exc import IntegrityError

from idservice.cards import api, dao
from idservice.cards.decisions import MODE_SERVICES, decide_rows
from idservice.db import LeanConnection, lean_engine
from idservice.oauth import scopes
from idservice.oauth.bearer import ApiError
from idservice.oauth.lean import HSTS
from idservice.oauth.tokens import is_service_token, verified_claims

if TYPE_CHECKING:
    from collections.abc import Iterable

    from flask import Flask

log = logging.getLogger(__name__)

TAPS_PATH = "/api/v1/taps"
JSON_TYPE = "application/json"


class _Fallback(Exception):
    """Leave this request to the Flask view."""


class LeanTapEndpoint:
    """WSGI middleware: a plain tap from a reader, else the wrapped app."""

    def __init__(self, app: Flask, wrapped: Any) -> None:
        self.app = app
        self.wrapped = wrapped
        self.max_length: int | None = app.config.get("MAX_CONTENT_LENGTH")
        #: Every statement stands alone: a read, then one INSERT that a unique index
        #: guards; no BEGIN and COMMIT round trips on PostgreSQL.
        self.engine = lean_engine(app)
        self.window = app.config["KENTCARD"].tap_challenge_window
        # After Content-Type and Content-Length, what the app's after-request hook adds
        # to every answer (idservice/web/setup.py), in the order Flask sends them.
        after = [("X-Content-Type-Options", "nosniff")]
        if app.config.get("SESSION_COOKIE_SECURE"):
            after.append(("Strict-Transport-Security", HSTS))
        self.after_headers = after

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if (
            environ.get("PATH_INFO") != TAPS_PATH
            or environ.get("REQUEST_METHOD") != "POST"
            or environ.get("QUERY_STRING")
        ):
            return self.wrapped(environ, start_response)  # type: ignore[no-any-return]
        body = self._read_body(environ)
        if body is not None:
            try:
                with self.app.app_context():
                    answer = self._decide(environ, body)
            except _Fallback:
                pass
            except Exception:
                # Nothing was written (the write is the last step, all or nothing): the
                # view runs the request afresh and answers as the API documents.
                log.exception(
                    "lean path failed on POST %s; handed to the view", environ["PATH_INFO"]
                )
            else:
                headers = [
                    ("Content-Type", JSON_TYPE),
                    ("Content-Length", str(len(answer))),
                    *self.after_headers,
                ]
                start_response("200 OK", headers)
                return [answer]
        return self.wrapped(environ, start_response)  # type: ignore[no-any-return]

    def _read_body(self, environ: dict[str, Any]) -> bytes | None:
        """The body, or None to leave the request to Flask (the body is put back)."""
        mimetype = environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower()
        if mimetype != JSON_TYPE:
            return None
        try:
            length = int(environ.get("CONTENT_LENGTH") or "")
        except ValueError:
            return None
        if length <= 0 or (self.max_length is not None and length > self.max_length):
            return None
        stream = environ["wsgi.input"]
        # A server that marks the end of the body (granian does) lets Werkzeug read to
        # it: one byte more than announced shows whether there is more.
        terminated = bool(environ.get("wsgi.input_terminated"))
        body = stream.read(length + 1 if terminated else length)
        environ["wsgi.input"] = io.BytesIO(body)  # whatever happens next sees the same bytes
        return body if len(body) == length else None

    def _decide(self, environ: dict[str, Any], body: bytes) -> bytes:
        kind, _, token = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        if kind.lower() != "bearer":
            raise _Fallback
        claims = verified_claims(token.strip())
        if claims is None or not is_service_token(claims):
            raise _Fallback
        if api.TAPS_SCOPE not in scopes.parse(str(claims.get("scope", ""))):
            raise _Fallback
        try:
            tap = api.parse_tap(json.loads(body))
            api.check_fresh(tap.challenge, self.window)
            keyring = api.tap_keyring()
        except (ApiError, ValueError):
            raise _Fallback from None
        today = date.today()
        checked = api.verify(tap, keyring, today)
        genuine = not isinstance(checked, api.RejectedTap)
        client_id = str(claims["client_id"])
        with LeanConnection(self.engine) as connection:
            good, rows = dao.dao_tap_lookup(
                connection,
                client_id=client_id,
                jti=str(claims["jti"]),
                card_number=checked.card_number if genuine else None,
                services=MODE_SERVICES[tap.mode],
            )
            if not good:
                raise _Fallback  # the view answers 401 for a withdrawn client or token
            if isinstance(checked, api.RejectedTap):
                decision = checked.decision
                values = api.tap_values(client_id, checked.card_number, tap.mode, decision, None)
            else:
                decision = decide_rows(rows, tap.mode, today, checked.public_point)
                number, challenge = checked.card_number, tap.challenge
                values = api.tap_values(client_id, number, tap.mode, decision, challenge)
            try:
                dao.dao_lean_record_tap(connection, **values)
            except IntegrityError:
                raise _Fallback from None  # nothing was written: the view says 409
            connection.commit()
        log.debug("tap decided: %s", decision.code)
        # As Flask's jsonify writes it outside debug mode.
        text = current_app.json.dumps(decision.as_dict(), separators=(",", ":"))
        return text.encode() + b"\n"


def install(app: Flask) -> None:
    """Put the lean path in front of the Flask app (tests can take it out again)."""
    app.wsgi_app = LeanTapEndpoint(app, app.wsgi_app)  # type: ignore[method-assign]
