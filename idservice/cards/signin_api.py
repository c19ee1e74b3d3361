"""``/api/v1/card-sign-in/*``: a kiosk's registered reader signs a browser in with card + PIN.

The reader is an OAuth client (client_credentials) with the ``card-sign-in:write`` scope
and nothing else it needs: it can pick up a challenge by the code on the screen, answer it
with what the card signed, and report a wrong or blocked PIN. The checks themselves are in
:mod:`idservice.services.card_signin`.

Errors are JSON ``{"error", "message"}``: 401 ``invalid_token``, 403 ``insufficient_scope``,
400 ``invalid_request`` (not a JSON object, a field missing or not hex), 404
``unknown_code``, 409 ``used`` / ``other_reader`` / ``no_challenge``, 410 ``expired``,
403 ``card_refused`` (the card is lost, stolen, not genuine...: the message says which),
422 ``unprocessable_answer`` / ``unprocessable_report``.
"""

from __future__ import annotations

from typing import Any

from flask import request
from flask_smorest import Blueprint

from cardio.signin import SCOPE
from idservice import api_errors
from idservice.api_errors import ApiError, InvalidRequest
from idservice.cards.schemas import (
    SIGN_IN_CHALLENGE_SCHEMA,
    SIGN_IN_MESSAGE_SCHEMA,
    SignInAnswerSchema,
    SignInCodeSchema,
    SignInReportSchema,
)
from idservice.cards.taps import hex_field
from idservice.oauth.bearer import bearer_token, require_scope
from idservice.openapi import BEARER_ERRORS, document_errors, json_body
from idservice.services import card_signin

bp = Blueprint(
    "card_sign_in_api",
    __name__,
    url_prefix="/api/v1/card-sign-in",
    description="Card and PIN sign-in: a kiosk's registered reader signs a browser in.",
)
api_errors.register(bp)


class UnknownCode(ApiError):
    status, code = 404, "unknown_code"


class Used(ApiError):
    status, code = 409, "used"


class OtherReader(ApiError):
    status, code = 409, "other_reader"


class NoChallenge(ApiError):
    status, code = 409, "no_challenge"


class Expired(ApiError):
    status, code = 410, "expired"


class CardRefused(ApiError):
    status, code = 403, "card_refused"


class UnprocessableAnswer(ApiError):
    status, code = 422, "unprocessable_answer"


class UnprocessableReport(ApiError):
    status, code = 422, "unprocessable_report"


#: The sign-in service's refusals (:class:`card_signin.ReaderResult` ``error``) by code.
REFUSALS: dict[str, type[ApiError]] = {
    cls.code: cls
    for cls in (
        UnknownCode,
        Used,
        OtherReader,
        NoChallenge,
        Expired,
        CardRefused,
        UnprocessableAnswer,
        UnprocessableReport,
    )
}


def _reader() -> str:
    found = bearer_token()
    require_scope(found, SCOPE)
    return str(found.row.client_id)


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidRequest("Send a JSON object")
    code = body.get("code")
    if not isinstance(code, str) or not card_signin.normalise_code(code):
        raise InvalidRequest("code is required: the code on the screen")
    return body


def _answer(result: card_signin.ReaderResult, **extra: Any) -> dict[str, Any]:
    if result.error:
        raise REFUSALS[result.error](result.message)
    return {"message": result.message, **extra}


#: The failures every sign-in operation can answer, for the OpenAPI document.
_SIGN_IN_ERRORS = {
    400: "invalid_request: not a JSON object, or a field missing or malformed",
    **BEARER_ERRORS,
    404: "unknown_code: no sign-in with that code",
    409: "used: answered or refused already; other_reader: another reader is answering it; "
    "no_challenge: the challenge was not fetched first",
    410: "expired: the sign-in has expired",
}
_SECURITY = [{"reader": [SCOPE]}]


@bp.route("/challenge", methods=["POST"])
@bp.response(200, SIGN_IN_CHALLENGE_SCHEMA)
@document_errors(bp, _SIGN_IN_ERRORS)
@bp.doc(
    security=_SECURITY, operationId="cardSignInChallenge", requestBody=json_body(SignInCodeSchema)
)
def challenge() -> dict[str, Any]:
    """The challenge for the code on the screen; the first reader to ask keeps the sign-in.

    Needs a reader's client credentials token with the `card-sign-in:write` scope.
    """
    reader = _reader()
    body = _body()
    result = card_signin.reader_challenge(body["code"], reader)
    expires_in = int(card_signin.LIFETIME.total_seconds())
    return _answer(result, challenge=result.challenge.hex(), expires_in=expires_in)


@bp.route("/answer", methods=["POST"])
@bp.response(200, SIGN_IN_MESSAGE_SCHEMA)
@document_errors(
    bp,
    {
        **_SIGN_IN_ERRORS,
        403: "insufficient_scope: the token lacks the scope; card_refused: the card is lost, "
        "stolen, replaced, not registered, expired or not genuine (the message says which)",
        422: "unprocessable_answer: select_answer is not a Kent Card answer",
    },
)
@bp.doc(
    security=_SECURITY, operationId="cardSignInAnswer", requestBody=json_body(SignInAnswerSchema)
)
def answer() -> dict[str, Any]:
    """What the card signed after the PIN: the browser is signed in if it holds.

    Needs a reader's client credentials token with the `card-sign-in:write` scope.
    """
    reader = _reader()
    body = _body()
    select_answer, signature = hex_field(body, "select_answer"), hex_field(body, "signature")
    return _answer(card_signin.reader_answer(body["code"], reader, select_answer, signature))


@bp.route("/report", methods=["POST"])
@bp.response(200, SIGN_IN_MESSAGE_SCHEMA)
@document_errors(
    bp, {**_SIGN_IN_ERRORS, 422: "unprocessable_report: error is not wrong_pin or pin_blocked"}
)
@bp.doc(
    security=_SECURITY, operationId="cardSignInReport", requestBody=json_body(SignInReportSchema)
)
def report() -> dict[str, Any]:
    """A wrong or blocked PIN, for the screen to say so.

    Needs a reader's client credentials token with the `card-sign-in:write` scope.
    """
    reader = _reader()
    body = _body()
    sw_text = body.get("sw")
    try:
        sw = int(str(sw_text), 16) if isinstance(sw_text, str) and len(sw_text) == 4 else None
    except ValueError:
        sw = None
    if sw is None:
        raise InvalidRequest("sw is required: the card's status word, 4 hex")
    error = body.get("error")
    return _answer(card_signin.reader_report(body["code"], reader, str(error), sw))
