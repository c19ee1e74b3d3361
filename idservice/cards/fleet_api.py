"""The reader fleet's API: ``POST /api/v1/taps/batch`` and ``POST /api/v1/readers/status``.

A registered reader (an OAuth client with ``taps:write`` and a row in the fleet,
``kentcard readers register``) uploads the taps it decided offline, in order, in
batches of at most 1,000 (:mod:`idservice.cards.offline`), and tells the service at every
contact its snapshot version, its queued taps and its clock (:mod:`idservice.cards.fleet`).
The protocol, for reader vendors, is in docs/readers.md.

Errors are JSON ``{"error": code, "message": words}``: 401 ``invalid_token``, 403
``insufficient_scope`` (no ``taps:write``) or ``not_a_reader`` (a client outside the
fleet), 400 ``invalid_request`` (not a JSON object), 422 ``invalid_request`` with
``errors`` (fields missing or malformed: the whole batch is refused, nothing recorded),
413 ``request_too_large`` and 503 ``issuer_unavailable``. A tap refused on its own
merits is answered in the batch's results, never by failing the batch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import marshmallow as ma
from flask import current_app, request
from flask_smorest import Blueprint

from idservice import api_errors
from idservice.api_errors import InvalidFields, InvalidRequest
from idservice.cards import offline
from idservice.cards.schemas import (
    READER_STATUS_ANSWER_SCHEMA,
    READER_STATUS_SCHEMA,
    TAP_BATCH_ANSWER_SCHEMA,
    ReaderStatusSchema,
    TapBatchRequestSchema,
    load_tap_batch,
)
from idservice.cards.taps import TAPS_SCOPE
from idservice.oauth.bearer import bearer_token, require_scope
from idservice.openapi import BEARER_ERRORS, document_errors, json_body
from idservice.request_input import JsonLimits, parse_json

bp = Blueprint(
    "fleet_api",
    __name__,
    url_prefix="/api/v1",
    description="Registered readers upload the taps they decided offline and report their state.",
)
api_errors.register(bp)

_NOT_A_READER = "not_a_reader: the client is not a registered reader (kentcard readers register)"
BATCH_ERRORS = {
    400: "invalid_request: not a JSON object",
    **BEARER_ERRORS,
    403: f"insufficient_scope: the token lacks taps:write; {_NOT_A_READER}",
    413: "request_too_large: the body is larger than the batch limit",
    422: "invalid_request: fields missing or malformed (`errors` says which); nothing recorded",
    503: "issuer_unavailable: the issuer keyring cannot be read",
}
STATUS_ERRORS = {
    400: "invalid_request: not a JSON object",
    **BEARER_ERRORS,
    403: f"insufficient_scope: the token lacks taps:write; {_NOT_A_READER}",
    422: "invalid_request: fields missing or malformed (`errors` says which)",
}


def _reader_client_id() -> str:
    found = bearer_token()
    require_scope(found, TAPS_SCOPE)
    return str(found.row.client_id)


def _flatten(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested messages as ``{"taps.3.challenge": [...]}``."""
    if isinstance(messages, dict):
        flat: dict[str, list[str]] = {}
        for key, value in messages.items():
            flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    if isinstance(messages, list):
        return {prefix or "body": [str(m) for m in messages]}
    return {prefix or "body": [str(messages)]}


def _body(load: Callable[[dict[str, Any]], dict[str, Any]], max_bytes: int) -> dict[str, Any]:
    """The request's JSON object within ``max_bytes``, loaded by ``load`` (a schema's)."""
    settings = current_app.config["KENTCARD"]
    request.max_content_length = max_bytes
    limits = JsonLimits(max_depth=settings.json_max_depth, max_bytes=max_bytes)
    try:
        sent = parse_json(request.get_data(cache=False), limits)
    except ValueError:
        raise InvalidRequest("Send a JSON object") from None
    if not isinstance(sent, dict):
        raise InvalidRequest("Send a JSON object")
    try:
        loaded = load(sent)
    except ma.ValidationError as exc:
        raise InvalidFields(errors=_flatten(exc.messages)) from None
    return loaded


@bp.route("/taps/batch", methods=["POST"])
@bp.response(200, TAP_BATCH_ANSWER_SCHEMA)
@document_errors(bp, BATCH_ERRORS)
@bp.doc(
    security=[{"reader": [TAPS_SCOPE]}],
    operationId="uploadOfflineTaps",
    requestBody=json_body(TapBatchRequestSchema),
)
def taps_batch() -> offline.BatchAnswer:
    """Upload taps decided offline: each verified again, decided and recorded once.

    Needs a registered reader's client credentials token with `taps:write`. Answers for
    every tap, in order: `recorded`, `duplicate` (recorded before: a batch sent twice is
    recorded once) or `refused` with a code. A tap the reader allowed that the service
    refuses is recorded with `follow_up` true. The reader's snapshot version, queued taps
    and clock are recorded as its last contact.
    """
    client_id = _reader_client_id()
    settings = current_app.config["KENTCARD"]
    batch = _body(load_tap_batch, settings.tap_batch_max_bytes)
    return offline.upload(client_id, batch, clock_drift=settings.tap_clock_drift)


@bp.route("/readers/status", methods=["POST"])
@bp.response(200, READER_STATUS_ANSWER_SCHEMA)
@document_errors(bp, STATUS_ERRORS)
@bp.doc(
    security=[{"reader": [TAPS_SCOPE]}],
    operationId="reportReaderStatus",
    requestBody=json_body(ReaderStatusSchema),
)
def reader_status() -> offline.StatusAnswer:
    """Report the reader's state: its snapshot version, queued taps and clock.

    Recorded as the reader's last contact; the answer gives the service's clock and the
    reader's drift from it.
    """
    client_id = _reader_client_id()
    settings = current_app.config["KENTCARD"]
    report = _body(READER_STATUS_SCHEMA.load, settings.json_max_bytes)
    return offline.report_status(client_id, report)
