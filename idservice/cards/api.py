"""``POST /api/v1/taps``: a registered reader asks for the decision on a tap.

The reader sends what the card said (the SELECT answer, its signature over the reader's
challenge) and its mode. The view authenticates the reader and hands the tap to
:func:`idservice.cards.taps.decide` (the use case the lean path runs too): the card is
verified again with the issuer's keys, so a reader that was tampered with cannot vouch
for a copied card; then the hotlist and the entitlement decide. Every decision is
recorded in ``taps`` (card number, no name).

Errors are JSON ``{"error": code, "message": words}``: 401 ``invalid_token`` (no, bad or
expired bearer token), 403 ``insufficient_scope`` (token without ``taps:write``), 400
``invalid_request`` (not a JSON object, a field missing or not hex), 422
``unprocessable_tap`` (an unknown mode, a challenge of the wrong length, or card data
that is not a Kent Card answer), 422 ``stale_challenge`` (the challenge's time is more
than the window away from the service's clock), 409 ``replayed_tap`` (this card's
answer to this challenge was decided before) and 503 ``issuer_unavailable``: see
docs/card-protocol.md. The answer is :data:`idservice.cards.schemas.TAP_DECISION_SCHEMA`'s
dump, and the operation is in the OpenAPI document (:mod:`idservice.openapi`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import current_app, request
from flask_smorest import Blueprint

from idservice import api_errors
from idservice.cards import taps as tap_service
from idservice.cards.schemas import TAP_DECISION_SCHEMA, TapRequestSchema
from idservice.oauth.bearer import bearer_token, require_scope
from idservice.openapi import BEARER_ERRORS, document_errors, json_body

if TYPE_CHECKING:
    from idservice.cards.decisions import TapDecision

bp = Blueprint(
    "cards_api",
    __name__,
    url_prefix="/api/v1",
    description="Decisions on Kent Card taps for registered readers.",
)
api_errors.register(bp)
TAPS_SCOPE = tap_service.TAPS_SCOPE


def _reader_client_id() -> str:
    found = bearer_token()
    require_scope(found, TAPS_SCOPE)
    return str(found.row.client_id)


#: Each failure the tap operation answers, for the OpenAPI document.
TAP_ERRORS = {
    400: "invalid_request: not a JSON object, or a field missing or not hex",
    **BEARER_ERRORS,
    409: "replayed_tap: this card's answer to this challenge was decided before",
    422: "unprocessable_tap: an unknown mode, a challenge of the wrong length, or card data "
    "that is not a Kent Card answer; stale_challenge: the challenge's time is further from "
    "the service's clock than the window",
    503: "issuer_unavailable: the issuer keyring cannot be read",
}


@bp.route("/taps", methods=["POST"])
@bp.response(200, TAP_DECISION_SCHEMA)
@document_errors(bp, TAP_ERRORS)
@bp.doc(
    security=[{"reader": [TAPS_SCOPE]}],
    operationId="decideTap",
    requestBody=json_body(TapRequestSchema),
)
def taps() -> TapDecision:
    """The decision on a tap: what the card said, verified again here, then decided.

    Needs a reader's client credentials token with the `taps:write` scope. Every
    decision, allow or deny, is recorded (card number, no name); no failure records a tap.
    """
    tap_service.start_request()
    client_id = _reader_client_id()
    window = current_app.config["KENTCARD"].tap_challenge_window
    return tap_service.decide(client_id, request.get_json(silent=True), window=window)
