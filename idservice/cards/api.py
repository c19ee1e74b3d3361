"""``POST /api/v1/taps``: a registered reader asks for the decision on a tap.

The reader sends what the card said (the SELECT answer, its signature over the reader's
challenge) and its mode. The card is verified here again with the issuer's keys, so a
reader that was tampered with cannot vouch for a copied card; then the hotlist and the
entitlement decide. Every decision is recorded in ``taps`` (card number, no name).

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

import time
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask import current_app, request
from flask_smorest import Blueprint

from cardio import spec
from cardio.errors import MalformedResponseError
from cardio.issuer import IssuerError
from cardio.keyring import IssuerKeyring
from cardio.session import SelectAnswer, parse_select_answer
from cardio.verify import TapRejected, VerifiedCard, challenge_time, verify_tap
from idservice import api_errors
from idservice.api_errors import ApiError, InvalidRequest
from idservice.cards import taps as tap_service
from idservice.cards.decisions import MODE_SERVICES, TapDecision
from idservice.cards.issuance import issuer_keyring
from idservice.cards.schemas import TAP_DECISION_SCHEMA, TapRequestSchema
from idservice.oauth.bearer import bearer_token, require_scope
from idservice.openapi import BEARER_ERRORS, document_errors, json_body

bp = Blueprint(
    "cards_api",
    __name__,
    url_prefix="/api/v1",
    description="Decisions on Kent Card taps for registered readers.",
)
api_errors.register(bp)
TAPS_SCOPE = "taps:write"


class UnprocessableTap(ApiError):
    """Not a tap this service can decide: an unknown mode, a challenge of the wrong
    length, card data that is not a Kent Card answer."""

    status, code = 422, "unprocessable_tap"


class StaleChallenge(ApiError):
    status, code = 422, "stale_challenge"


class IssuerUnavailable(ApiError):
    status, code = 503, "issuer_unavailable"


def _reader_client_id() -> str:
    found = bearer_token()
    require_scope(found, TAPS_SCOPE)
    return str(found.row.client_id)


def _hex_field(body: dict[str, Any], name: str) -> bytes:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidRequest(f"{name} is required (hex)")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise InvalidRequest(f"{name} must be hex") from None


@dataclass(frozen=True)
class TapInput:
    """A tap as the reader sent it, checked for form (not yet for genuineness)."""

    answer: SelectAnswer
    challenge: bytes
    signature: bytes
    mode: str


def parse_tap(body: object) -> TapInput:
    """The request body as a :class:`TapInput`, or the documented 400/422 ``ApiError``."""
    if not isinstance(body, dict):
        raise InvalidRequest("Send a JSON object")
    select_answer = _hex_field(body, "select_answer")
    challenge = _hex_field(body, "challenge")
    signature = _hex_field(body, "signature")
    mode = body.get("mode")
    if mode not in MODE_SERVICES:
        raise UnprocessableTap(f"mode must be one of {', '.join(MODE_SERVICES)}")
    if len(challenge) != spec.CHALLENGE_LENGTH:
        raise UnprocessableTap(f"challenge must be {spec.CHALLENGE_LENGTH} bytes")
    try:
        answer = parse_select_answer(select_answer)
    except MalformedResponseError as exc:
        raise UnprocessableTap(f"select_answer: {exc}") from None
    return TapInput(answer, challenge, signature, str(mode))


def tap_keyring() -> IssuerKeyring:
    try:
        return issuer_keyring()
    except IssuerError as exc:
        message = f"The issuer keyring cannot be read: {exc}"
        raise IssuerUnavailable(message) from None


def check_fresh(challenge: bytes, window: float, now: float | None = None) -> None:
    """Refuse a challenge made more than the window away from now (replay protection)."""
    skew = challenge_time(challenge) - (time.time() if now is None else now)
    if abs(skew) > window:
        when = "old" if skew < 0 else "ahead of the service's clock"
        raise StaleChallenge(
            f"The challenge is {abs(skew):.0f} s {when} (at most {window} s): tap again, "
            "and check the reader's clock",
        )


@dataclass(frozen=True)
class RejectedTap:
    """A refusal before any lookup: the card was not a genuine Kent Card."""

    decision: TapDecision
    card_number: str | None


def verify(tap: TapInput, keyring: IssuerKeyring, today: date) -> VerifiedCard | RejectedTap:
    """The card proved genuine, or the refusal to record when it was not."""
    try:
        return verify_tap(tap.answer, tap.challenge, tap.signature, keyring, today)
    except TapRejected as rejected:
        decision = TapDecision(False, rejected.reason.code, rejected.reason.words)
        return RejectedTap(decision, rejected.card_number)


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
    tap = parse_tap(request.get_json(silent=True))
    check_fresh(tap.challenge, current_app.config["KENTCARD"].tap_challenge_window)
    today = date.today()
    checked = verify(tap, tap_keyring(), today)
    if isinstance(checked, RejectedTap):
        decision = checked.decision
        tap_service.record_refusal(client_id, checked.card_number, tap.mode, decision)
    else:
        decision = tap_service.decide_and_record(
            client_id, checked.card_number, tap.mode, tap.challenge, checked.public_point, today
        )
    current_app.logger.debug("tap decided: %s", decision.code)
    return decision
