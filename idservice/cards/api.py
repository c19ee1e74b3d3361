"""``POST /api/v1/taps``: a registered reader asks for the decision on a tap.

The reader sends what the card said (the SELECT answer, its signature over the reader's
challenge) and its mode. The card is verified here again with the issuer's keys, so a
reader that was tampered with cannot vouch for a copied card; then the hotlist and the
entitlement decide. Every decision is recorded in ``taps`` (card number, no name).

Errors are JSON ``{"error": code, "message": words}``: 401 ``invalid_token`` (no, bad or
expired bearer token), 403 ``insufficient_scope`` (token without ``taps:write``), 400
``invalid_request`` (not a JSON object, a field missing or not hex), 422
``unprocessable_tap`` (an unknown mode, a challenge of the wrong length, or card data
that is not a Kent Card answer).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from cardio import certificate as cert
from cardio import spec
from cardio.errors import MalformedResponseError
from cardio.keyring import IssuerKeyring
from cardio.session import parse_select_answer
from cardio.verify import TapRejected, verify_tap
from idservice.cards import dao
from idservice.cards.decisions import MODE_SERVICES, TapDecision, decide
from idservice.cards.issuance import card_issuer
from idservice.db import transaction
from idservice.oauth import scopes
from idservice.oauth.tokens import verify_access_token

bp = Blueprint("cards_api", __name__, url_prefix="/api/v1")
TAPS_SCOPE = "taps:write"


class ApiError(Exception):
    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError) -> tuple[Response, int]:
    response = jsonify({"error": exc.error, "message": exc.message})
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = f'Bearer error="{exc.error}"'
    elif exc.status == 403:
        response.headers["WWW-Authenticate"] = (
            f'Bearer error="insufficient_scope", scope="{TAPS_SCOPE}"'
        )
    return response, exc.status


def _reader_client_id() -> str:
    header = request.headers.get("Authorization", "")
    kind, _, token = header.partition(" ")
    if kind.lower() != "bearer" or not token.strip():
        raise ApiError(401, "invalid_token", "Send the reader's access token: Bearer <token>")
    found = verify_access_token(token.strip())
    if found is None or found.is_expired() or found.is_revoked():
        raise ApiError(401, "invalid_token", "The access token is not valid or has expired")
    if TAPS_SCOPE not in scopes.parse(found.scope):
        raise ApiError(403, "insufficient_scope", f"The token needs the {TAPS_SCOPE} scope")
    return str(found.row.client_id)


def _hex_field(body: dict[str, Any], name: str) -> bytes:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise ApiError(400, "invalid_request", f"{name} is required (hex)")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise ApiError(400, "invalid_request", f"{name} must be hex") from None


def _keyring() -> IssuerKeyring:
    return card_issuer().keyring()


@bp.post("/taps")
def taps() -> Response:
    client_id = _reader_client_id()
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request", "Send a JSON object")
    select_answer = _hex_field(body, "select_answer")
    challenge = _hex_field(body, "challenge")
    signature = _hex_field(body, "signature")
    mode = body.get("mode")
    if mode not in MODE_SERVICES:
        raise ApiError(422, "unprocessable_tap", f"mode must be one of {', '.join(MODE_SERVICES)}")
    if len(challenge) != spec.CHALLENGE_LENGTH:
        raise ApiError(422, "unprocessable_tap", f"challenge must be {spec.CHALLENGE_LENGTH} bytes")
    try:
        answer = parse_select_answer(select_answer)
    except MalformedResponseError as exc:
        raise ApiError(422, "unprocessable_tap", f"select_answer: {exc}") from None
    today = date.today()
    card_number = answer.card_number
    try:
        verified = verify_tap(answer, challenge, signature, _keyring(), today)
    except TapRejected as rejected:
        decision = TapDecision(False, rejected.reason.code, rejected.reason.words)
        card_number = rejected.card_number
    else:
        point = cert.decode(answer.certificate or b"").public_point
        with transaction():
            decision = decide(verified.card_number, mode, today, point)
    with transaction():
        dao.dao_record_tap(
            reader_client_id=client_id,
            card_number=card_number,
            mode=mode,
            decision="allow" if decision.allowed else "deny",
            code=decision.code,
            reason=decision.reason,
        )
    current_app.logger.debug("tap decided: %s", decision.code)
    return jsonify(decision.as_dict())
