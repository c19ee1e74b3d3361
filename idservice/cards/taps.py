"""A tap, decided once: the use case behind ``POST /api/v1/taps``, over a store.

:func:`decide_tap` is the whole of it: the reader's request is read for form
(:func:`parse_tap`), its challenge checked for freshness, the card verified again with
the issuer's keys, its hotlist status and entitlements looked up, the decision made and
recorded. It touches the database only through a :class:`TapStore`, so the same function
serves both ways a tap arrives:

* the Flask view (``cards/api.py``) authenticates the reader and calls :func:`decide`,
  which runs it over :class:`OrmTapStore` (the app's session, in autocommit: see
  :func:`start_request`) in one transaction;
* the lean path (``cards/lean.py``) runs it over its own store, whose look-up also checks
  the reader's token in the same statement.

Every refusal is an :class:`idservice.api_errors.ApiError` with its status and wire code;
nothing is recorded for one. A genuine answer's challenge is recorded with the card
number, and the unique index on the two refuses the same answer twice (409
``replayed_tap``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

from sqlalchemy.exc import IntegrityError

from cardio import spec
from cardio.errors import MalformedResponseError
from cardio.issuer import IssuerError
from cardio.keyring import IssuerKeyring
from cardio.session import SelectAnswer, parse_select_answer
from cardio.verify import TapRejected, challenge_time, verify_tap
from idservice.api_errors import ApiError, InvalidRequest
from idservice.cards import dao
from idservice.cards.decisions import MODE_SERVICES, TapDecision, decide_rows
from idservice.cards.issuance import issuer_keyring
from idservice.db import db_session, transaction

log = logging.getLogger(__name__)

#: What a reader's client credentials token needs to ask for decisions.
TAPS_SCOPE = "taps:write"


class UnprocessableTap(ApiError):
    """Not a tap this service can decide: an unknown mode, a challenge of the wrong
    length, card data that is not a Kent Card answer."""

    status, code = 422, "unprocessable_tap"


class StaleChallenge(ApiError):
    status, code = 422, "stale_challenge"


class IssuerUnavailable(ApiError):
    status, code = 503, "issuer_unavailable"


class ReplayedTap(ApiError):
    """409: this card's answer to this challenge was decided before."""

    status, code = 409, "replayed_tap"
    message = "This card answer was decided before: tap the card again"


@dataclass(frozen=True)
class TapInput:
    """A tap as the reader sent it, checked for form (not yet for genuineness)."""

    answer: SelectAnswer
    challenge: bytes
    signature: bytes
    mode: str


def hex_field(body: dict[str, Any], name: str) -> bytes:
    """A required field of bytes sent as hex, or 400 ``invalid_request``."""
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidRequest(f"{name} is required (hex)")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise InvalidRequest(f"{name} must be hex") from None


def parse_tap(body: object) -> TapInput:
    """The request body as a :class:`TapInput`, or the documented 400/422 ``ApiError``."""
    if not isinstance(body, dict):
        raise InvalidRequest("Send a JSON object")
    select_answer = hex_field(body, "select_answer")
    challenge = hex_field(body, "challenge")
    signature = hex_field(body, "signature")
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


class TapStore(Protocol):
    """What deciding a tap needs of the database."""

    def card_with_states(self, card_number: str, services: tuple[str, ...]) -> list[Any]:
        """The card with its resident's active states for ``services``, as
        :func:`idservice.cards.dao.dao_card_with_states` returns them."""

    def record(self, values: dict[str, Any]) -> None:
        """Insert the ``taps`` row (:func:`tap_values`); ``IntegrityError`` when the unique
        index on a genuine answer's challenge refuses it."""


def tap_values(
    client_id: str,
    card_number: str | None,
    mode: str,
    decision: TapDecision,
    challenge: bytes | None,
) -> dict[str, Any]:
    """The ``taps`` row for a decision; the challenge is kept only for a genuine answer."""
    return {
        "reader_client_id": client_id,
        "card_number": card_number,
        "mode": mode,
        "decision": "allow" if decision.allowed else "deny",
        "code": decision.code,
        "reason": decision.reason,
        "challenge": challenge,
    }


def decide_tap(
    store: TapStore, client_id: str, sent: object, *, window: float, today: date | None = None
) -> TapDecision:
    """The decision on the tap the reader ``client_id`` sent (the parsed JSON body),
    recorded through ``store``; or the documented ``ApiError``."""
    tap = parse_tap(sent)
    check_fresh(tap.challenge, window)
    keyring = tap_keyring()
    today = today or date.today()
    try:
        checked = verify_tap(tap.answer, tap.challenge, tap.signature, keyring, today)
    except TapRejected as rejected:
        # Not a genuine Kent Card: refused before any look-up, no challenge kept.
        decision = TapDecision(False, rejected.reason.code, rejected.reason.words)
        store.record(tap_values(client_id, rejected.card_number, tap.mode, decision, None))
        return decision
    rows = store.card_with_states(checked.card_number, MODE_SERVICES[tap.mode])
    decision = decide_rows(rows, tap.mode, today, checked.public_point)
    values = tap_values(client_id, checked.card_number, tap.mode, decision, tap.challenge)
    try:
        store.record(values)
    except IntegrityError:
        log.warning("replayed tap refused (reader %s)", client_id)
        raise ReplayedTap from None  # nothing was written
    log.debug("tap decided: %s", decision.code)
    return decision


class OrmTapStore:
    """:class:`TapStore` on the app's session (the Flask view)."""

    def card_with_states(self, card_number: str, services: tuple[str, ...]) -> list[Any]:
        return dao.dao_card_with_states(card_number, services)

    def record(self, values: dict[str, Any]) -> None:
        dao.dao_record_tap(db_session.connection(), **values)


def start_request() -> None:
    """Put this request's statements in autocommit (before any statement): every
    statement stands alone, and the unique index on a genuine answer refuses a replay."""
    dao.dao_autocommit_for_request()


def decide(client_id: str, sent: object, *, window: float) -> TapDecision:
    """:func:`decide_tap` on the app's session, in one transaction."""
    with transaction():
        return decide_tap(OrmTapStore(), client_id, sent, window=window)
