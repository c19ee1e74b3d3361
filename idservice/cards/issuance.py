"""Issuing, reporting and replacing Kent Cards at the counter.

The order of events is what keeps the register honest:

1. :func:`order_card` allocates a card number and writes an ``ordered`` row (committed).
2. :func:`personalise_card` runs the card protocol over whatever connection the counter
   has; the database is not touched while the card is in the reader. If anything fails
   (card pulled out half-way, card fault, another counter won the race) the order becomes
   ``spoiled``, as a card bureau records spoilage: the number is burnt and never reused,
   the card never worked, and it does not count as a card the resident has. A blank card
   pulled out before LOCK is still unlocked and can be run again, under a new number.
3. Only after a confirming tap does one transaction make the card ``active``, link the card
   it replaces, append the ``card-issued`` ledger event and the audit record. The partial
   unique index on active cards decides between two members of staff issuing at once.

Entitlements belong to the resident, not the card, so a replacement card carries every
entitlement from the moment it is active.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import TypeVar

from flask import current_app
from sqlalchemy.exc import IntegrityError

from cardio import certificate as cert
from cardio.certificate import CardCertificate
from cardio.connection import CardConnection
from cardio.issuer import METADATA_FILE, Issuer, IssuerError, IssuerStore
from cardio.keyring import IssuerKeyring
from cardio.personalise import issue
from cardio.session import KentCardSession
from cardio.verify import new_challenge, verify_tap
from entitlements.ledger import store as ledger
from entitlements.ledger.events import Channel, EventKind, LedgerEvent
from idservice import audit
from idservice.cards import dao
from idservice.cards.issuer_keys import ISSUER_FOLDER, issuer_store
from idservice.config import Settings
from idservice.db import db_session, transactional
from idservice.models.base import utcnow
from idservice.models.cards import (
    CARD_ACTIVE,
    CARD_HOTLISTED,
    CARD_ORDERED,
    CARD_PERSONALISED,
    CARD_REPLACED,
    CARD_SPOILED,
    HOTLIST_REASONS,
    Card,
)
from idservice.services import renewals
from idservice.services.residents import dao_get_resident_by_id

LEDGER_SERVICE = "kent-card"
T = TypeVar("T")


class CardRefused(Exception):
    """The counter cannot go on; the message says why in words staff can act on."""


class AlreadyHasCard(CardRefused):
    def __init__(self) -> None:
        super().__init__(
            "This resident already has an active Kent Card. Report it lost, stolen or "
            "damaged to replace it"
        )


class IssuedElsewhere(CardRefused):
    def __init__(self) -> None:
        super().__init__(
            "Another member of staff issued a Kent Card to this resident a moment ago, so "
            "this card was not activated. Keep this card: it cannot be used"
        )


@dataclass(frozen=True)
class CounterActor:
    """Who is acting at the counter, how the resident is being helped, and why."""

    staff_id: str
    staff_role: str
    channel: str = "face-to-face"
    reason: str | None = None


def _settings() -> Settings:
    return current_app.config["KENTCARD"]  # type: ignore[no-any-return]


def _cached(name: str, load: Callable[[IssuerStore], T]) -> T:
    """Loaded once per app, and again when ``issuer.json`` changes (after a rotation).

    Every online tap asks for the keyring, so a hit costs one ``stat`` and nothing more:
    the store (and its key protection: a passphrase file, say) is only opened to load.
    """
    instance = _settings().instance_path
    try:
        stamp: int | None = (instance / ISSUER_FOLDER / METADATA_FILE).stat().st_mtime_ns
    except FileNotFoundError:
        stamp = None
    cached = current_app.extensions.get(name)
    if cached is None or cached[0] != stamp:
        store = issuer_store(instance)
        cached = (stamp, load(store))
        current_app.extensions[name] = cached
    return cached[1]


def card_issuer() -> Issuer:
    """The issuer keys in ``<instance>/issuer`` (made by ``kentcard issuer init``), opened
    with the configured passphrase or hook (:mod:`idservice.cards.issuer_keys`).

    Raises :class:`CardRefused` naming what to fix when they cannot be opened.
    """
    try:
        return _cached("kentcard_card_issuer", IssuerStore.load)
    except IssuerError as exc:
        raise CardRefused(f"Cards cannot be signed: {exc}") from None


def issuer_keyring() -> IssuerKeyring:
    """Every issuer public key whose cards may still be valid: what taps verify against.

    Read from ``issuer.json`` alone, so checking a tap never needs the passphrase.
    """
    return _cached("kentcard_issuer_keyring", IssuerStore.public_keyring)


def _audit(action: str, actor: CounterActor, card: Card, **details: object) -> None:
    audit.record(
        action,
        resident_id=card.resident_id,
        actor_type="staff",
        actor_id=actor.staff_id,
        channel=actor.channel,
        reason=actor.reason,
        details={"staff_role": actor.staff_role, "card_id": card.id, **details},
    )


def _ledger(kind: EventKind, actor: CounterActor, card: Card, reason: str, at: datetime) -> None:
    event = LedgerEvent(
        kind=kind,
        resident=card.resident_id,
        service=LEDGER_SERVICE,
        actor=actor.staff_id,
        channel=Channel(actor.channel),
        reason=reason,
        occurred_at=at,
        evidence=(f"card:{card.id}",),
        valid_until=card.expiry if kind is EventKind.CARD_ISSUED else None,
    )
    ledger.append_in(db_session.connection(), [event])


def _expiry(today: date) -> date:
    years = _settings().card_validity_years
    try:
        return today.replace(year=today.year + years)
    except ValueError:  # 29 February
        return today.replace(year=today.year + years, day=28)


@transactional
def order_card(actor: CounterActor, resident_id: str, today: date | None = None) -> Card:
    """A card number for this resident, or the unfinished order to run again."""
    resident = dao_get_resident_by_id(resident_id)
    if not resident.is_active:
        raise CardRefused("This account is closed: a card cannot be issued on it")
    if dao.dao_get_active_card(resident.id) is not None:
        raise AlreadyHasCard()
    number = dao.dao_next_card_number(_settings().card_issuer_prefix)
    card = dao.dao_create_card(
        card_number=number,
        resident_id=resident.id,
        status=CARD_ORDERED,
        expiry=_expiry(today or date.today()),
        issued_by_staff_id=actor.staff_id,
    )
    _audit("card.ordered", actor, card)
    return card


def personalise_card(
    actor: CounterActor,
    card_id: str,
    connection: CardConnection,
    pin: str,
    today: date | None = None,
) -> Card:
    """Write the card in the reader, confirm it with a tap, then make it active.

    Raises the card's own errors (card removed, not a blank Kent Card, locked card, the
    card refusing the issuer's key) with the database untouched; :class:`CardRefused` when
    another active card won the race.
    """
    today = today or date.today()
    card = _load(card_id)
    if card.status != CARD_ORDERED:
        raise CardRefused("This card order has already been used: start again")
    try:
        issued = issue(connection, card_issuer(), card.card_number, card.expiry, pin, today)
    except Exception as exc:  # whatever the card or reader did, this number is finished
        _spoil(actor, card.id, type(exc).__name__)
        raise
    try:
        return _activate(actor, card.id, card.resident_id, issued.certificate)
    except IntegrityError:
        _spoil(actor, card.id, "issued elsewhere", issued.certificate)
        raise IssuedElsewhere() from None


@transactional
def _load(card_id: str) -> Card:
    return dao.dao_get_card(card_id)


def _written(certificate: CardCertificate) -> dict[str, object]:
    return {
        "public_key": certificate.public_point,
        "certificate": certificate.encode(),
        "issuer_key_id": certificate.issuer_key_id.hex(),
    }


@transactional
def _activate(
    actor: CounterActor, card_id: str, resident_id: str, certificate: CardCertificate
) -> Card:
    now = utcnow()
    moved = dao.dao_set_status(  # first statement: the unique index decides races here
        card_id,
        CARD_ACTIVE,
        expected=(CARD_ORDERED,),
        issued_at=now,
        issued_by_staff_id=actor.staff_id,
        **_written(certificate),
    )
    if not moved:
        raise CardRefused("This card order has already been used: start again")
    card = dao.dao_get_card(card_id)
    replaced = [
        c
        for c in dao.dao_get_cards_for_resident(resident_id)
        if c.status == CARD_HOTLISTED and c.replaced_by_id is None
    ]
    for old in replaced:
        dao.dao_set_status(old.id, CARD_REPLACED, expected=(CARD_HOTLISTED,))
        old = dao.dao_get_card(old.id)
        old.replaced_by_id = card.id
        card.replaces_id = old.id
    _ledger(EventKind.CARD_ISSUED, actor, card, "card issued", now)
    following = renewals.follow_card(
        resident_id, card.expiry, actor.staff_id, Channel(actor.channel), now
    )
    ledger.append_in(db_session.connection(), following)
    _audit("card.issued", actor, card, replaces=card.replaces_id)
    return card


@transactional
def _spoil(
    actor: CounterActor, card_id: str, why: str, certificate: CardCertificate | None = None
) -> None:
    """The order failed: burn the number for good, keeping what the card holds if known."""
    written = _written(certificate) if certificate is not None else {}
    if dao.dao_set_status(card_id, CARD_SPOILED, expected=(CARD_ORDERED,), **written):
        _audit("card.spoiled", actor, dao.dao_get_card(card_id), failure=why)


@transactional
def report_card(actor: CounterActor, card_id: str, why: str) -> Card:
    """Hotlist a card at once (lost, stolen or damaged): the next online tap is refused."""
    if why not in HOTLIST_REASONS:
        raise CardRefused("Select whether the card was lost, stolen or damaged")
    now = utcnow()
    moved = dao.dao_set_status(
        card_id,
        CARD_HOTLISTED,
        expected=(CARD_ACTIVE, CARD_ORDERED, CARD_PERSONALISED),
        hotlist_reason=why,
    )
    card = dao.dao_get_card(card_id)
    if not moved:
        raise CardRefused("This card is not in use, so it cannot be reported")
    _ledger(EventKind.CARD_HOTLISTED, actor, card, f"card reported {why}", now)
    _audit("card.hotlisted", actor, card, hotlist_reason=why)
    return card


class NotBlocked(CardRefused):
    def __init__(self, tries_left: int | None) -> None:
        left = (
            "the PIN was just entered correctly"
            if tries_left is None
            else (f"it has {tries_left} {'try' if tries_left == 1 else 'tries'} left")
        )
        super().__init__(
            f"The PIN on this card is not blocked ({left}). The resident can go on using it, "
            "or change it at a kiosk"
        )


def unblock_pin(
    actor: CounterActor, card_id: str, connection: CardConnection, pin: str, today: date
) -> Card:
    """Set a new PIN on a blocked card at the counter (issuer-signed SET PIN).

    The card in the reader must prove it is this resident's active card (a tap, checked
    against the register's key) and its PIN must be blocked. Raises :class:`CardRefused`
    with words staff can act on, or the card's own errors (status word named).
    """
    card = _load(card_id)
    if card.status != CARD_ACTIVE:
        raise CardRefused("Only an active card can be unblocked. This card cannot be used")
    session = KentCardSession(connection)
    verified = verify_tap(
        session.info,
        challenge := new_challenge(),
        session.internal_authenticate(challenge),
        card_issuer().keyring(),
        today,
    )
    proved_key = cert.decode(session.info.certificate or b"").public_point
    if verified.card_number != card.card_number or proved_key != card.public_key:
        raise CardRefused(
            f"The card in the reader is not the card ending {card.card_number[-4:]}. "
            "Put the resident's card in the reader"
        )
    tries = session.pin_tries_left()
    if tries != 0:
        raise NotBlocked(tries)
    session.set_pin(card_issuer().personalisation_key, pin)
    return _record_unblock(actor, card.id)


@transactional
def _record_unblock(actor: CounterActor, card_id: str) -> Card:
    card = dao.dao_get_card(card_id)
    _audit("card.pin_unblocked", actor, card)
    return card


@transactional
def cards_for(resident_id: str) -> list[Card]:
    return dao.dao_get_cards_for_resident(resident_id)
