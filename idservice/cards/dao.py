"""Data access for cards, the card number counter and online taps (``dao_*``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from cardio.cardnumber import CARD_NUMBER_LENGTH, luhn_check_digit
from idservice.db import db_session
from idservice.models.base import utcnow
from idservice.models.cards import (
    CARD_ACTIVE,
    CARD_ORDERED,
    CARD_PERSONALISED,
    Card,
    CardNumberCounter,
    Tap,
)
from idservice.services.residents import NotFound


def dao_next_card_number(prefix: str, length: int = CARD_NUMBER_LENGTH) -> str:
    """The next card number under ``prefix``: counter row locked, bumped, never reused.

    The UPDATE comes first so that it takes the row lock (PostgreSQL) or the write lock
    (SQLite) before the value is read; the first card under a new prefix inserts the row.
    """
    if not prefix.isdigit() or not 6 <= len(prefix) <= length - 5:
        raise ValueError(f"issuer prefix must be 6 to {length - 5} digits")
    bumped = db_session.execute(
        update(CardNumberCounter)
        .where(CardNumberCounter.issuer_prefix == prefix)
        .values(next_serial=CardNumberCounter.next_serial + 1)
        .returning(CardNumberCounter.next_serial)
    ).scalar_one_or_none()
    if bumped is None:
        try:
            with db_session.begin_nested():
                db_session.add(CardNumberCounter(issuer_prefix=prefix, next_serial=2))
            serial = 1
        except IntegrityError:  # another counter made the row a moment ago
            return dao_next_card_number(prefix, length)
    else:
        serial = bumped - 1
    width = length - len(prefix) - 1
    if serial >= 10**width:
        raise RuntimeError(f"card numbers under {prefix} are used up")
    payload = prefix + str(serial).zfill(width)
    return payload + luhn_check_digit(payload)


def dao_create_card(**values: Any) -> Card:
    card = Card(**values)
    db_session.add(card)
    db_session.flush()
    return card


def dao_get_card(card_id: str) -> Card:
    card = db_session.get(Card, card_id)
    if card is None:
        raise NotFound("card")
    return card


def dao_get_card_by_number(card_number: str) -> Card | None:
    return db_session.scalar(select(Card).where(Card.card_number == card_number))


def dao_get_cards_for_resident(resident_id: str) -> list[Card]:
    rows = db_session.scalars(
        select(Card)
        .where(Card.resident_id == resident_id)
        .order_by(Card.ordered_at.desc(), Card.card_number.desc())
    )
    return list(rows)


def dao_get_active_card(resident_id: str) -> Card | None:
    return db_session.scalar(
        select(Card).where(Card.resident_id == resident_id, Card.status == CARD_ACTIVE)
    )


def dao_get_unfinished_card(resident_id: str) -> Card | None:
    """A card ordered (or personalised but never confirmed) for this resident, to run again."""
    return db_session.scalar(
        select(Card)
        .where(
            Card.resident_id == resident_id,
            Card.status.in_((CARD_ORDERED, CARD_PERSONALISED)),
        )
        .order_by(Card.ordered_at.desc())
        .limit(1)
    )


def dao_set_status(card_id: str, status: str, *, expected: tuple[str, ...], **values: Any) -> bool:
    """Move a card to ``status`` only from one of ``expected``; False if it had moved on.

    A plain UPDATE as the transaction's first write, so concurrent changes to one card
    serialise on the row and the partial unique index decides between two activations.
    """
    result = db_session.execute(
        update(Card)
        .where(Card.id == card_id, Card.status.in_(expected))
        .values(status=status, status_changed_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )
    changed = bool(getattr(result, "rowcount", 0))
    if changed:
        db_session.expire_all()
    return changed


def dao_record_tap(**values: Any) -> Tap:
    tap = Tap(**values)
    db_session.add(tap)
    return tap


def dao_recent_taps(card_number: str, limit: int = 20) -> list[Tap]:
    rows = db_session.scalars(
        select(Tap).where(Tap.card_number == card_number).order_by(Tap.id.desc()).limit(limit)
    )
    return list(rows)
