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
``MAX_CONTENT_LENGTH`` and the JSON limits (:mod:`idservice.request_input`), no bearer
token or one that is not a current service token with ``taps:write``, a client withdrawn
or a token revoked. A tap the view refuses for what was sent (400, 422 ``unprocessable_tap``
or ``stale_challenge``, 503 ``issuer_unavailable``) is refused here with the view's own
error once the token is found good, as is a replayed answer (409 ``replayed_tap``: the
INSERT refused it, so nothing was written), through the API's one error renderer
(:mod:`idservice.api_errors`). tests/cards/test_lean_tap_path.py sends the same taps
through both paths and compares the answers.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError

from idservice.api_errors import ApiError
from idservice.cards import api, dao, taps
from idservice.cards.decisions import MODE_SERVICES, decide_rows
from idservice.cards.schemas import TAP_DECISION_SCHEMA
from idservice.db import LeanConnection, lean_database
from idservice.lean import Fallback, LeanJsonEndpoint, service_token_claims
from idservice.request_input import InputRefused, JsonLimits, parse_json

if TYPE_CHECKING:
    from flask import Flask

log = logging.getLogger(__name__)

TAPS_PATH = "/api/v1/taps"
#: Any mode's services, for the token check alone (the statement is the one a tap uses).
ANY_MODE = next(iter(MODE_SERVICES.values()))


class LeanTapEndpoint(LeanJsonEndpoint):
    """A plain tap from a reader, else the wrapped app."""

    def __init__(self, app: Flask, wrapped: Any) -> None:
        super().__init__(app, wrapped)
        #: Every statement stands alone: a read, then one INSERT that a unique index
        #: guards; no BEGIN and COMMIT round trips on PostgreSQL.
        self.database = lean_database(app)
        self.window = app.config["KENTCARD"].tap_challenge_window
        self.json_limits = JsonLimits.of(app.config["KENTCARD"])

    def route(self, path: str) -> bool | None:
        return True if path == TAPS_PATH else None

    def answer(self, environ: dict[str, Any], route: Any, body: bytes) -> bytes:
        return self._decide(environ, body)

    def _decide(self, environ: dict[str, Any], body: bytes) -> bytes:
        claims = service_token_claims(environ, api.TAPS_SCOPE)
        client_id, jti = str(claims["client_id"]), str(claims["jti"])
        try:
            tap = api.parse_tap(parse_json(body, self.json_limits))
            api.check_fresh(tap.challenge, self.window)
            keyring = api.tap_keyring()
        except (ValueError, InputRefused):
            raise Fallback from None  # what Flask's JSON parsing says of it is the view's
        except ApiError:
            self._token_is_good(client_id, jti)
            raise  # the view's refusal, as the view answers it
        today = date.today()
        checked = api.verify(tap, keyring, today)
        genuine = not isinstance(checked, api.RejectedTap)
        with LeanConnection(self.database) as connection:
            good, rows = dao.dao_tap_lookup(
                connection,
                client_id=client_id,
                jti=jti,
                card_number=checked.card_number if genuine else None,
                services=MODE_SERVICES[tap.mode],
            )
            if not good:
                raise Fallback  # the view answers 401 for a withdrawn client or token
            if isinstance(checked, api.RejectedTap):
                decision = checked.decision
                values = taps.tap_values(client_id, checked.card_number, tap.mode, decision, None)
            else:
                decision = decide_rows(rows, tap.mode, today, checked.public_point)
                number, challenge = checked.card_number, tap.challenge
                values = taps.tap_values(client_id, number, tap.mode, decision, challenge)
            try:
                dao.dao_lean_record_tap(connection, **values)
            except IntegrityError:
                log.warning("replayed tap refused (reader %s)", client_id)
                raise taps.ReplayedTap from None  # nothing was written
            connection.commit()
        log.debug("tap decided: %s", decision.code)
        return self.json(TAP_DECISION_SCHEMA.dump(decision))

    def _token_is_good(self, client_id: str, jti: str) -> None:
        """:class:`Fallback` unless the reader's client is active and its token not
        revoked: the view answers 401 before it looks at the body."""
        with LeanConnection(self.database) as connection:
            good, _rows = dao.dao_tap_lookup(
                connection, client_id=client_id, jti=jti, card_number=None, services=ANY_MODE
            )
        if not good:
            raise Fallback


def install(app: Flask) -> None:
    """Put the lean path in front of the Flask app (tests can take it out again)."""
    app.wsgi_app = LeanTapEndpoint(app, app.wsgi_app)  # type: ignore[method-assign]
