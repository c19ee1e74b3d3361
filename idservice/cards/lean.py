"""A lean WSGI path for ``POST /api/v1/taps``, the request every bus and library gate makes.

A reader's tap must be decided in a few milliseconds at thousands a second. Through Flask,
request handling (request context, routing, the cookie session, after-request hooks) and
the ORM cost more than deciding the tap, so the plain, well-formed tap is decided here on
the WSGI environ, by the same use case as the Flask view
(:func:`idservice.cards.taps.decide_tap`), over a store of its own (:class:`LeanTapStore`):

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

from typing import TYPE_CHECKING, Any

from idservice.api_errors import ApiError
from idservice.cards import dao, taps
from idservice.cards.decisions import MODE_SERVICES
from idservice.cards.schemas import TAP_DECISION_SCHEMA
from idservice.db import LeanConnection, lean_database
from idservice.lean import Fallback, LeanJsonEndpoint, service_token_claims
from idservice.lean import install as install_endpoint
from idservice.request_input import InputRefused, JsonLimits, parse_json

if TYPE_CHECKING:
    from flask import Flask

TAPS_PATH = "/api/v1/taps"
#: Any mode's services, for the token check alone (the statement is the one a tap uses).
ANY_MODE = next(iter(MODE_SERVICES.values()))


class LeanTapStore:
    """:class:`idservice.cards.taps.TapStore` on a lean connection, for the reader whose
    token is ``jti``: the card's look-up also says whether the reader's client is still
    active and the token not revoked; when not, :class:`Fallback` (the view answers 401)."""

    def __init__(self, connection: LeanConnection, client_id: str, jti: str) -> None:
        self.connection = connection
        self.client_id = client_id
        self.jti = jti
        self.token_checked = False

    def _lookup(self, card_number: str | None, services: tuple[str, ...]) -> list[Any]:
        good, rows = dao.dao_tap_lookup(
            self.connection,
            client_id=self.client_id,
            jti=self.jti,
            card_number=card_number,
            services=services,
        )
        if not good:
            raise Fallback  # the view answers 401 for a withdrawn client or token
        self.token_checked = True
        return rows

    def card_with_states(self, card_number: str, services: tuple[str, ...]) -> list[Any]:
        return self._lookup(card_number, services)

    def check_token(self) -> None:
        """:class:`Fallback` unless the token is good (once per request)."""
        if not self.token_checked:
            self._lookup(None, ANY_MODE)

    def record(self, values: dict[str, Any]) -> None:
        self.check_token()  # a card refused before any look-up: nothing checked it yet
        dao.dao_lean_record_tap(self.connection, **values)


class LeanTapEndpoint(LeanJsonEndpoint):
    """A plain tap from a reader, answered by :func:`idservice.cards.taps.decide_tap`."""

    def __init__(self, app: Flask) -> None:
        super().__init__(app)
        #: Every statement stands alone: a read, then one INSERT that a unique index
        #: guards; no BEGIN and COMMIT round trips on PostgreSQL.
        self.database = lean_database(app)
        self.window = app.config["KENTCARD"].tap_challenge_window
        self.json_limits = JsonLimits.of(app.config["KENTCARD"])

    def route(self, path: str) -> bool | None:
        return True if path == TAPS_PATH else None

    def answer(self, environ: dict[str, Any], route: Any, body: bytes) -> bytes:
        claims = service_token_claims(environ, taps.TAPS_SCOPE)
        try:
            sent = parse_json(body, self.json_limits)
        except (ValueError, InputRefused):
            raise Fallback from None  # what Flask's JSON parsing says of it is the view's
        with LeanConnection(self.database) as connection:
            store = LeanTapStore(connection, str(claims["client_id"]), str(claims["jti"]))
            try:
                decision = taps.decide_tap(store, store.client_id, sent, window=self.window)
            except ApiError:
                store.check_token()  # the view answers 401 before it reads the body
                raise  # the view's refusal, as the view answers it
            connection.commit()
        return self.json(TAP_DECISION_SCHEMA.dump(decision))


def install(app: Flask) -> None:
    """Give taps a fast path in front of the Flask app (tests can take it out again)."""
    install_endpoint(app, LeanTapEndpoint(app))
