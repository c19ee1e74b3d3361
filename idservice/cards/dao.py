"""Data access for cards, the card number counter and online taps (``dao_*``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Table,
    and_,
    bindparam,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from cardio.cardnumber import CARD_NUMBER_LENGTH, luhn_check_digit
from entitlements.ledger.tables import STATES
from idservice.db import LeanConnection, LeanStatement, db_session
from idservice.models.base import utcnow
from idservice.models.cards import (
    CARD_ACTIVE,
    Card,
    CardNumberCounter,
    Tap,
)
from idservice.oauth.dao import ONE_ROW, service_token_columns, token_is_good
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


_CARDS = cast(Table, Card.__table__)
_TAPS = cast(Table, Tap.__table__)


#: Built once: the hot path of an online tap runs these on the request's connection
#: (Core, no ORM objects), so only parameters change and the compiled form is cached.
_CARD_WITH_STATES = (
    select(
        _CARDS.c.status,
        _CARDS.c.hotlist_reason,
        _CARDS.c.expiry,
        _CARDS.c.public_key,
        STATES.c.service,
        STATES.c.valid_from,
        STATES.c.valid_until,
    )
    .select_from(
        _CARDS.outerjoin(
            STATES,
            and_(
                STATES.c.resident == _CARDS.c.resident_id,
                STATES.c.service.in_(bindparam("services", expanding=True)),
                STATES.c.status == "active",
            ),
        )
    )
    .where(_CARDS.c.card_number == bindparam("card_number"))
)
_INSERT_TAP = insert(_TAPS)


def dao_autocommit_for_request() -> None:
    """Run this request's statements in autocommit (call before any statement).

    For online taps: every statement stands alone (reads, then one INSERT that the unique
    index guards), so no BEGIN and COMMIT round trips are needed on the hot path. The pool
    resets the isolation level when the connection goes back to it.
    """
    db_session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


def dao_card_with_states(
    card_number: str, services: Sequence[str], connection: Connection | None = None
) -> list[Any]:
    """The card (status, key, expiry) with its resident's active states for ``services``.

    One row per state held, or one row with ``service`` NULL; no rows for an unknown card.
    A single query on two indexes (the card number, the states' primary key).
    """
    connection = connection or db_session.connection()
    found = connection.execute(
        _CARD_WITH_STATES, {"card_number": card_number, "services": list(services)}
    )
    return list(found.all())


def _tap_lookup(services: Sequence[str]) -> LeanStatement:
    """The lean tap path's one query for a mode (idservice/cards/lean.py): whether the
    reader's client is still active and its token not revoked, with the card and its
    states as above. The outer joins from a one-row table keep the token's answer when
    the card is unknown. The mode's services are part of the statement."""
    return LeanStatement(
        select(*service_token_columns(), *_CARD_WITH_STATES.selected_columns).select_from(
            ONE_ROW.outerjoin(_CARDS, _CARDS.c.card_number == bindparam("card_number")).outerjoin(
                STATES,
                and_(
                    STATES.c.resident == _CARDS.c.resident_id,
                    STATES.c.service.in_([literal(code) for code in services]),
                    STATES.c.status == "active",
                ),
            )
        )
    )


#: Built on first use, one per reader mode's tuple of services.
_TAP_LOOKUPS: dict[tuple[str, ...], LeanStatement] = {}
_TAP_COLUMNS = ("at", "reader_client_id", "card_number", "mode", "decision", "code", "reason")
_LEAN_INSERT_TAP = LeanStatement(
    insert(_TAPS)
    .values({name: bindparam(name) for name in (*_TAP_COLUMNS, "challenge")})
    .inline()  # no RETURNING of the new id
)


def dao_tap_lookup(
    connection: LeanConnection,
    *,
    client_id: str,
    jti: str,
    card_number: str | None,
    services: tuple[str, ...],
) -> tuple[bool, list[Any]]:
    """(the service token is still good, the card rows) in one round trip.

    The token is good when its client is registered and active and no row says the token
    was revoked (a service token has no row until it is revoked). The card rows are as
    :func:`dao_card_with_states` returns them, or one row with ``status`` None for an
    unknown card (or no card number).
    """
    params = {"client_id": client_id, "jti": jti, "card_number": card_number}
    statement = _TAP_LOOKUPS.get(services)
    if statement is None:
        statement = _TAP_LOOKUPS.setdefault(services, _tap_lookup(services))
    rows = connection.rows(statement, params)
    return token_is_good(rows[0]), rows


def dao_lean_record_tap(connection: LeanConnection, **values: Any) -> None:
    """:func:`dao_record_tap` on a lean path's connection."""
    values.setdefault("at", utcnow())
    values.setdefault("challenge", None)
    connection.run(_LEAN_INSERT_TAP, values)


def dao_record_tap(connection: Connection | None = None, **values: Any) -> None:
    """Insert one tap row. With a ``challenge``, the unique index on (card number,
    challenge) raises :class:`IntegrityError` for an answer seen before."""
    values.setdefault("at", utcnow())
    values.setdefault("challenge", None)
    (connection or db_session.connection()).execute(_INSERT_TAP, values)


def dao_recent_taps(card_number: str, limit: int = 20) -> list[Tap]:
    rows = db_session.scalars(
        select(Tap).where(Tap.card_number == card_number).order_by(Tap.id.desc()).limit(limit)
    )
    return list(rows)
