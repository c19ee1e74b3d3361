"""The service behind ``POST /api/v1/taps``: decide a tap and record the decision.

``cards/api.py`` reads and verifies the reader's request and calls these; they run the
statements and own the transaction, so the view never touches the database session. The
request runs in autocommit (``dao.dao_autocommit_for_request``): every statement stands
alone, and the unique index on a genuine answer's challenge refuses a replay.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import current_app
from sqlalchemy.exc import IntegrityError

from idservice.api_errors import ApiError
from idservice.cards import dao
from idservice.cards.decisions import MODE_SERVICES, TapDecision, decide_rows
from idservice.db import db_session, transaction


class ReplayedTap(ApiError):
    """409: this card's answer to this challenge was decided before."""

    status, code = 409, "replayed_tap"
    message = "This card answer was decided before: tap the card again"


def start_request() -> None:
    """Put this request's statements in autocommit (before any statement)."""
    dao.dao_autocommit_for_request()


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


def _record(
    client_id: str,
    card_number: str | None,
    mode: str,
    decision: TapDecision,
    challenge: bytes | None,
) -> None:
    """Record a decision. With a ``challenge`` its unique index with the card number
    refuses the same answer a second time: 409 ``replayed_tap``."""
    try:
        values = tap_values(client_id, card_number, mode, decision, challenge)
        dao.dao_record_tap(db_session.connection(), **values)
    except IntegrityError:
        current_app.logger.warning("replayed tap refused (reader %s)", client_id)
        raise ReplayedTap from None


def record_refusal(
    client_id: str, card_number: str | None, mode: str, decision: TapDecision
) -> None:
    """Record the refusal of a card that did not prove genuine (no challenge kept)."""
    with transaction():
        _record(client_id, card_number, mode, decision, None)


def decide_and_record(
    client_id: str,
    card_number: str,
    mode: str,
    challenge: bytes,
    public_point: bytes | None,
    today: date,
) -> TapDecision:
    """A genuine card's decision: its hotlist status and entitlements, then the record."""
    with transaction():
        rows = dao.dao_card_with_states(card_number, MODE_SERVICES[mode])
        decision = decide_rows(rows, mode, today, public_point)
        _record(client_id, card_number, mode, decision, challenge)
    return decision
