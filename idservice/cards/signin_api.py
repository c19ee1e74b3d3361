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

from flask import Blueprint, Response, jsonify, request

from cardio.signin import SCOPE
from idservice.oauth import scopes
from idservice.oauth.tokens import verify_access_token
from idservice.services import card_signin

bp = Blueprint("card_sign_in_api", __name__, url_prefix="/api/v1/card-sign-in")


class ApiError(Exception):
    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError) -> tuple[Response, int]:
    response = jsonify({"error": exc.error, "message": exc.message})
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = f'Bearer error="{exc.error}"'
    elif exc.error == "insufficient_scope":
        response.headers["WWW-Authenticate"] = f'Bearer error="insufficient_scope", scope="{SCOPE}"'
    return response, exc.status


def _reader() -> str:
    kind, _, token = request.headers.get("Authorization", "").partition(" ")
    if kind.lower() != "bearer" or not token.strip():
        raise ApiError(401, "invalid_token", "Send the reader's access token: Bearer <token>")
    found = verify_access_token(token.strip())
    if found is None or found.is_expired() or found.is_revoked():
        raise ApiError(401, "invalid_token", "The access token is not valid or has expired")
    if SCOPE not in scopes.parse(found.scope):
        raise ApiError(403, "insufficient_scope", f"The token needs the {SCOPE} scope")
    return str(found.row.client_id)


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request", "Send a JSON object")
    code = body.get("code")
    if not isinstance(code, str) or not card_signin.normalise_code(code):
        raise ApiError(400, "invalid_request", "code is required: the code on the screen")
    return body


def _hex(body: dict[str, Any], name: str) -> bytes:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise ApiError(400, "invalid_request", f"{name} is required (hex)")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise ApiError(400, "invalid_request", f"{name} must be hex") from None


def _answer(result: card_signin.ReaderResult, **extra: Any) -> Response:
    if result.error:
        raise ApiError(result.status, result.error, result.message)
    return jsonify({"message": result.message, **extra})


@bp.post("/challenge")
def challenge() -> Response:
    reader = _reader()
    body = _body()
    result = card_signin.reader_challenge(body["code"], reader)
    expires_in = int(card_signin.LIFETIME.total_seconds())
    return _answer(result, challenge=result.challenge.hex(), expires_in=expires_in)


@bp.post("/answer")
def answer() -> Response:
    reader = _reader()
    body = _body()
    select_answer, signature = _hex(body, "select_answer"), _hex(body, "signature")
    return _answer(card_signin.reader_answer(body["code"], reader, select_answer, signature))


@bp.post("/report")
def report() -> Response:
    reader = _reader()
    body = _body()
    sw_text = body.get("sw")
    try:
        sw = int(str(sw_text), 16) if isinstance(sw_text, str) and len(sw_text) == 4 else None
    except ValueError:
        sw = None
    if sw is None:
        raise ApiError(400, "invalid_request", "sw is required: the card's status word, 4 hex")
    error = body.get("error")
    return _answer(card_signin.reader_report(body["code"], reader, str(error), sw))
