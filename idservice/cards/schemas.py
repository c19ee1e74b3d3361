"""Marshmallow schemas of the readers' APIs: taps (:mod:`idservice.cards.api`) and card
sign-in (:mod:`idservice.cards.signin_api`).

The answers are serialised through them, the lean tap path's too (one instance each,
built at import: nothing per request), and they generate the OpenAPI document
(:mod:`idservice.openapi`). The request schemas document the bodies the views read: the
views keep their own checks, whose refusals (400 ``invalid_request``, 422
``unprocessable_tap``...) are the documented wire contract (docs/card-protocol.md), and
tests/cards/test_reader_schemas.py holds the two to the same verdicts.
"""

from __future__ import annotations

import re
from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from cardio import spec
from cardio.verify import CHALLENGE_TIME_BYTES, Reason
from idservice.cards.decisions import DECISION_CODES, MODE_SERVICES
from idservice.services.card_signin import PIN_REPORTS

HEX_PATTERN = r"^(?:[0-9A-Fa-f]{2})+$"
#: Every tap ``code``: the card's checks first (cardio.verify), then the register's.
TAP_CODES = tuple(dict.fromkeys([*DECISION_CODES, *(reason.code for reason in Reason)]))


def _hex(description: str, *, length: int | None = None, **metadata: Any) -> fields.String:
    pattern = HEX_PATTERN if length is None else rf"^[0-9A-Fa-f]{{{2 * length}}}$"
    return fields.String(
        required=True,
        validate=validate.Regexp(pattern, error="Send hex"),
        metadata={"description": description, **metadata},
    )


class TapRequestSchema(ma.Schema):
    select_answer = _hex("The card's answer to SELECT (its data and certificate), hex")
    challenge = _hex(
        f"The reader's {spec.CHALLENGE_LENGTH}-byte challenge, hex; its first "
        f"{CHALLENGE_TIME_BYTES} bytes are the reader's time (big-endian milliseconds since "
        "the epoch) and must be within the service's window",
        length=spec.CHALLENGE_LENGTH,
    )
    signature = _hex("The card's DER signature over the challenge (INTERNAL AUTHENTICATE), hex")
    mode = fields.String(
        required=True,
        validate=validate.OneOf(list(MODE_SERVICES)),
        metadata={"description": "What the reader is: which services open its gate"},
    )


class TapDecisionSchema(ma.Schema):
    """A tap's decision: ``allow`` only with ``code`` ``entitled``."""

    decision = fields.Function(
        lambda decision: "allow" if decision.allowed else "deny",
        required=True,
        metadata={"type": "string", "enum": ["allow", "deny"], "description": "Open the gate?"},
    )
    code = fields.String(
        required=True,
        metadata={"enum": list(TAP_CODES), "description": "Why, as a code to branch on"},
    )
    reason = fields.String(
        required=True, metadata={"description": "Why, in words for the reader's screen"}
    )
    entitlement = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "The catalogue service that allowed it; else null"},
    )
    valid_until = fields.Date(
        required=True,
        allow_none=True,
        metadata={"description": "That entitlement's last valid day, if it ends; else null"},
    )


#: Serialises every tap's answer, the view's and the lean path's (built once).
TAP_DECISION_SCHEMA = TapDecisionSchema()


def _code() -> fields.String:
    return fields.String(
        required=True,
        metadata={"description": "The sign-in code on the screen (`ABCD-EFGH`)"},
    )


class SignInCodeSchema(ma.Schema):
    code = _code()


class SignInAnswerSchema(ma.Schema):
    code = _code()
    select_answer = _hex("The card's answer to SELECT, hex")
    signature = _hex("The card's DER signature over the sign-in challenge (P2 `01`), hex")


class SignInReportSchema(ma.Schema):
    code = _code()
    error = fields.String(
        required=True,
        metadata={
            "enum": list(PIN_REPORTS),
            "description": "What VERIFY said: `wrong_pin` (63CX) or `pin_blocked` (6983)",
        },
    )
    sw = fields.String(
        required=True,
        validate=validate.Regexp(r"^[0-9A-Fa-f]{4}$", error="Send 4 hex"),
        metadata={"description": "The card's status word, 4 hex", "example": "63C2"},
    )


class SignInMessageSchema(ma.Schema):
    message = fields.String(required=True, metadata={"description": "Words for the screen"})


class SignInChallengeSchema(SignInMessageSchema):
    challenge = fields.String(
        required=True,
        metadata={"description": "16 bytes to have the card sign after VERIFY, hex"},
    )
    expires_in = fields.Integer(
        required=True, metadata={"description": "Seconds until the sign-in expires"}
    )


#: Serialise the sign-in answers (built once).
SIGN_IN_MESSAGE_SCHEMA = SignInMessageSchema()
SIGN_IN_CHALLENGE_SCHEMA = SignInChallengeSchema()


# -- offline taps and the reader fleet (docs/readers.md) ------------------------------------

#: Most taps one batch carries (:data:`idservice.cards.offline.MAX_BATCH_TAPS`).
MAX_BATCH_TAPS = 1000
TAP_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"


class ReaderStatusSchema(ma.Schema):
    """What a reader says of itself at every contact."""

    class Meta:
        unknown = ma.EXCLUDE

    snapshot_version = fields.String(
        required=True,
        allow_none=True,
        validate=validate.Length(max=64),
        metadata={"description": "The offline snapshot the reader decides from; null: none"},
    )
    queued = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=0, max=10**9),
        metadata={"description": "Taps waiting on the reader for upload, besides this batch"},
    )
    clock = fields.AwareDateTime(
        required=True,
        metadata={"description": "The reader's clock as it sends this, ISO 8601 with offset"},
    )


class OfflineTapSchema(ma.Schema):
    """One tap the reader decided offline, as it kept it."""

    #: Its fields, in order (what :func:`load_tap_batch` keeps of each tap).
    FIELDS = ("id", "select_answer", "challenge", "signature", "mode", "decision", "code", "reason")

    class Meta:
        unknown = ma.EXCLUDE

    id = fields.String(
        required=True,
        validate=validate.Regexp(TAP_ID_PATTERN, error="1 to 64 letters, digits, - or _"),
        metadata={"description": "The reader's own id for the tap, unique on that reader"},
    )
    select_answer = _hex("The card's answer to SELECT (its data and certificate), hex")
    challenge = _hex(
        f"The reader's {spec.CHALLENGE_LENGTH}-byte challenge, hex; its first "
        f"{CHALLENGE_TIME_BYTES} bytes (big-endian milliseconds since the epoch) are when "
        "the tap happened. No window applies, but a time ahead of the service's clock by "
        "more than its drift allowance is refused (`future_tap`)",
        length=spec.CHALLENGE_LENGTH,
    )
    signature = _hex("The card's DER signature over the challenge (INTERNAL AUTHENTICATE), hex")
    mode = fields.String(
        required=True,
        validate=validate.OneOf(list(MODE_SERVICES)),
        metadata={"description": "The reader's mode when it decided"},
    )
    decision = fields.String(
        required=True,
        validate=validate.OneOf(["allow", "deny"]),
        metadata={"description": "What the reader decided"},
    )
    code = fields.String(
        required=True,
        metadata={"description": "Why the reader decided so, as a code (first 32 characters kept)"},
    )
    reason = fields.String(
        required=True,
        metadata={"description": "Why, in words (first 200 characters kept)"},
    )


class TapBatchRequestSchema(ma.Schema):
    reader = fields.Nested(ReaderStatusSchema, required=True)
    taps = fields.List(
        fields.Nested(OfflineTapSchema),
        required=True,
        validate=validate.Length(min=1, max=MAX_BATCH_TAPS),
        metadata={"description": f"1 to {MAX_BATCH_TAPS} taps, oldest first"},
    )


class TapResultSchema(ma.Schema):
    """The service's answer for one tap of a batch."""

    id = fields.String(required=True, metadata={"description": "The tap's id, as sent"})
    result = fields.String(
        required=True,
        metadata={
            "enum": ["recorded", "duplicate", "refused"],
            "description": "recorded now; duplicate: recorded before (the first recording's "
            "decision follows); refused: not recorded, `code` says why",
        },
    )
    decision = fields.String(
        required=True,
        allow_none=True,
        metadata={
            "enum": ["allow", "deny", None],
            "description": "The service's own decision on the tap; null when refused",
        },
    )
    code = fields.String(
        required=True,
        metadata={
            "description": "The service's decision code (as `POST /api/v1/taps` answers), or "
            "the refusal: unprocessable_tap, future_tap, replayed_tap"
        },
    )
    reason = fields.String(required=True, metadata={"description": "Why, in words"})
    follow_up = fields.Boolean(
        required=True,
        metadata={"description": "The reader allowed a tap the service refuses: flagged"},
    )


class TapBatchAnswerSchema(ma.Schema):
    results = fields.List(
        fields.Nested(TapResultSchema),
        required=True,
        metadata={"description": "One per tap sent, in the same order"},
    )
    recorded = fields.Integer(required=True)
    duplicates = fields.Integer(required=True)
    refused = fields.Integer(required=True)
    flagged = fields.Integer(
        required=True, metadata={"description": "Recorded taps flagged for follow-up"}
    )
    service_time = fields.DateTime(
        required=True, metadata={"description": "The service's clock when the batch arrived"}
    )
    clock_drift_ms = fields.Integer(
        required=True, metadata={"description": "The reader's clock less the service's, in ms"}
    )


class ReaderStatusAnswerSchema(ma.Schema):
    service_time = fields.DateTime(
        required=True, metadata={"description": "The service's clock when the report arrived"}
    )
    clock_drift_ms = fields.Integer(
        required=True, metadata={"description": "The reader's clock less the service's, in ms"}
    )


#: Load the bodies and dump the answers of the fleet operations (built once).
TAP_BATCH_REQUEST_SCHEMA = TapBatchRequestSchema()
READER_STATUS_SCHEMA = ReaderStatusSchema()
TAP_BATCH_ANSWER_SCHEMA = TapBatchAnswerSchema()
READER_STATUS_ANSWER_SCHEMA = ReaderStatusAnswerSchema()


_HEX = re.compile(HEX_PATTERN)
_CHALLENGE_HEX = re.compile(rf"^[0-9A-Fa-f]{{{2 * spec.CHALLENGE_LENGTH}}}$")
_TAP_ID = re.compile(TAP_ID_PATTERN)
_MODES = frozenset(MODE_SERVICES)
_DECISIONS = frozenset(("allow", "deny"))


def _tap_errors(tap: Any) -> dict[str, list[str]]:
    """What :class:`OfflineTapSchema` would refuse in ``tap``, field by field."""
    if not isinstance(tap, dict):
        return {"_schema": ["Invalid input type."]}
    errors: dict[str, list[str]] = {}
    checks: tuple[tuple[str, re.Pattern[str] | frozenset[str] | None], ...] = (
        ("id", _TAP_ID),
        ("select_answer", _HEX),
        ("challenge", _CHALLENGE_HEX),
        ("signature", _HEX),
        ("mode", _MODES),
        ("decision", _DECISIONS),
        ("code", None),
        ("reason", None),
    )
    for name, rule in checks:
        value = tap.get(name)
        if name not in tap:
            errors[name] = ["Missing data for required field."]
        elif value is None:
            errors[name] = ["Field may not be null."]
        elif not isinstance(value, str):
            errors[name] = ["Not a valid string."]
        elif isinstance(rule, re.Pattern) and rule.match(value) is None:
            errors[name] = [
                "Send hex" if rule is not _TAP_ID else "1 to 64 letters, digits, - or _"
            ]
        elif isinstance(rule, frozenset) and value not in rule:
            errors[name] = [f"Must be one of: {', '.join(sorted(rule))}."]
    return errors


def load_tap_batch(sent: dict[str, Any]) -> dict[str, Any]:
    """``sent`` as :data:`TAP_BATCH_REQUEST_SCHEMA` loads it, with the same verdicts, at a
    fraction of the cost for the taps (up to 1,000 a request; marshmallow spends about
    0.1 ms on each): ``reader`` through the schema, each tap by :func:`_tap_errors`. Raises
    ``marshmallow.ValidationError`` with marshmallow's nesting of messages.
    tests/cards/test_offline_taps.py holds the two to the same verdicts."""
    errors: dict[str, Any] = {}
    reader: Any = None
    if "reader" not in sent:
        errors["reader"] = ["Missing data for required field."]
    elif sent["reader"] is None:
        errors["reader"] = ["Field may not be null."]
    else:
        try:
            reader = READER_STATUS_SCHEMA.load(sent["reader"])
        except ma.ValidationError as exc:
            errors["reader"] = exc.messages
    taps = sent.get("taps")
    kept: list[dict[str, Any]] = []
    if "taps" not in sent:
        errors["taps"] = ["Missing data for required field."]
    elif taps is None:
        errors["taps"] = ["Field may not be null."]
    elif not isinstance(taps, list):
        errors["taps"] = ["Not a valid list."]
    else:
        failed: dict[int, Any] = {}
        for index, tap in enumerate(taps):
            problems: Any = ["Field may not be null."] if tap is None else _tap_errors(tap)
            if problems:
                failed[index] = problems
            else:
                kept.append({name: tap[name] for name in OfflineTapSchema.FIELDS})
        if failed:
            errors["taps"] = failed
        elif not 1 <= len(taps) <= MAX_BATCH_TAPS:
            errors["taps"] = [f"Length must be between 1 and {MAX_BATCH_TAPS}."]
    if errors:
        raise ma.ValidationError(errors)
    return {"reader": reader, "taps": kept}
