"""Data access for the resident's own data (``dao_*``): what the copy reads, what erasure
deletes. Rows other services read too come from their own data-access functions."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select

from entitlements.ledger import store as ledger
from entitlements.ledger.projection import EntitlementState
from idservice.db import db_session
from idservice.models.cards import Tap
from idservice.models.evidence import IdentityEvidence
from idservice.models.facts import ResidentFact
from idservice.models.mail import OutboundEmail
from idservice.models.notices import Notice, ServiceOffer
from idservice.models.oauth import Consent
from idservice.models.residents import PasskeyCredential, ResidentSession


def dao_ledger_bodies(resident_id: str) -> list[tuple[int, str]]:
    """The resident's ledger events as (sequence number, body), oldest first."""
    rows = db_session.execute(
        select(ledger.EVENTS.c.seq, ledger.EVENTS.c.body)
        .where(ledger.EVENTS.c.resident == resident_id)
        .order_by(ledger.EVENTS.c.seq)
    )
    return [(row.seq, row.body) for row in rows]


def dao_all_states(resident_id: str) -> list[EntitlementState]:
    """Every entitlement state of the resident, ended ones included, by service code."""
    rows = db_session.execute(
        select(ledger.STATES)
        .where(ledger.STATES.c.resident == resident_id)
        .order_by(ledger.STATES.c.service)
    )
    return [ledger._state_from_row(row) for row in rows]


def dao_taps_of(card_numbers: Sequence[str]) -> list[Tap]:
    if not card_numbers:
        return []
    query = select(Tap).where(Tap.card_number.in_(card_numbers)).order_by(Tap.id)
    return list(db_session.scalars(query))


def dao_sessions(resident_id: str) -> list[ResidentSession]:
    query = (
        select(ResidentSession)
        .where(ResidentSession.resident_id == resident_id)
        .order_by(ResidentSession.created_at)
    )
    return list(db_session.scalars(query))


def dao_emails_to(recipient: str) -> list[OutboundEmail]:
    query = select(OutboundEmail).where(OutboundEmail.recipient == recipient)
    return list(db_session.scalars(query.order_by(OutboundEmail.id)))


def dao_all_notices(resident_id: str) -> list[Notice]:
    query = select(Notice).where(Notice.resident_id == resident_id).order_by(Notice.id)
    return list(db_session.scalars(query))


def dao_all_offers(resident_id: str) -> list[ServiceOffer]:
    query = (
        select(ServiceOffer)
        .where(ServiceOffer.resident_id == resident_id)
        .order_by(ServiceOffer.id)
    )
    return list(db_session.scalars(query))


#: What erasure deletes outright (the rows that hold nothing but personal data).
PERSONAL_ROWS = (
    PasskeyCredential,
    ResidentSession,
    IdentityEvidence,
    Consent,
    ResidentFact,
    Notice,
    ServiceOffer,
)


def dao_delete_personal_rows(resident_id: str, email: str | None) -> None:
    """Delete the mail sent to ``email`` and every row of :data:`PERSONAL_ROWS`."""
    if email:
        db_session.execute(delete(OutboundEmail).where(OutboundEmail.recipient == email))
    for model in PERSONAL_ROWS:
        db_session.execute(delete(model).where(model.resident_id == resident_id))
