"""Data access for the partner API (``dao_*``): Core statements, no ORM on the hot path.

A check is one indexed SELECT (the card number's unique index, or the pairwise subject's
primary key, joined to the entitlement projection's and the consents' keys), then two
INSERTs (the query log and the audit record) and the commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import and_, bindparam, insert, literal, select

from entitlements.ledger.tables import STATES
from idservice.db import db_session
from idservice.models.audit import AuditRecord
from idservice.models.cards import Card
from idservice.models.oauth import Consent, OAuthClient
from idservice.models.partner_api import PairwiseSubject, PartnerQuery
from idservice.models.residents import Resident

if TYPE_CHECKING:
    from sqlalchemy import Table

CARDS = Card.__table__
SUBJECTS = PairwiseSubject.__table__
CONSENTS = Consent.__table__
QUERIES = PartnerQuery.__table__
CLIENTS = OAuthClient.__table__


@dataclass(frozen=True)
class Found:
    """What one check needs to know about the resident a card or subject names."""

    resident_id: str
    card_status: str | None
    card_expiry: date | None
    status: str | None
    valid_from: date | None
    valid_until: date | None
    consent_scope: str | None


def _joined(resident: Any, *columns: Any) -> Any:
    state = and_(STATES.c.resident == resident, STATES.c.service == bindparam("service"))
    consent = and_(
        CONSENTS.c.resident_id == resident, CONSENTS.c.client_id == bindparam("client_id")
    )
    return (
        select(
            resident.label("resident_id"),
            *columns,
            STATES.c.status,
            STATES.c.valid_from,
            STATES.c.valid_until,
            CONSENTS.c.scope.label("consent_scope"),
        )
        .outerjoin(STATES, state)
        .outerjoin(CONSENTS, consent)
    )


_BY_CARD = (
    _joined(
        CARDS.c.resident_id,
        CARDS.c.status.label("card_status"),
        CARDS.c.expiry.label("card_expiry"),
    )
    .select_from(CARDS)
    .where(CARDS.c.card_number == bindparam("card_number"))
)

_BY_SUBJECT = (
    _joined(
        SUBJECTS.c.resident_id,
        literal(None).label("card_status"),
        literal(None).label("card_expiry"),
    )
    .select_from(SUBJECTS)
    .where(SUBJECTS.c.sector == bindparam("sector"), SUBJECTS.c.subject == bindparam("subject"))
)


def _found(row: Any) -> Found | None:
    if row is None:
        return None
    return Found(
        resident_id=row.resident_id,
        card_status=row.card_status,
        card_expiry=row.card_expiry,
        status=row.status,
        valid_from=row.valid_from,
        valid_until=row.valid_until,
        consent_scope=row.consent_scope,
    )


def dao_find_by_card_number(card_number: str, service: str, client_id: str) -> Found | None:
    row = db_session.execute(
        _BY_CARD, {"card_number": card_number, "service": service, "client_id": client_id}
    ).first()
    return _found(row)


def dao_find_by_subject(sector: str, subject: str, service: str, client_id: str) -> Found | None:
    """Only a subject released to ``sector`` resolves: any other is simply unknown."""
    row = db_session.execute(
        _BY_SUBJECT,
        {"sector": sector, "subject": subject, "service": service, "client_id": client_id},
    ).first()
    return _found(row)


_INSERT_QUERY = insert(cast("Table", QUERIES))
_INSERT_AUDIT = insert(cast("Table", AuditRecord.__table__))


def dao_record_check(
    *,
    at: datetime,
    client_id: str,
    client_name: str,
    resident_id: str | None,
    service: str,
    looked_up_by: str,
    entitled: bool,
    result: str,
) -> None:
    """The query log row and, when someone was found, the audit record: two INSERTs,
    prepared once (no statement built per check)."""
    db_session.execute(
        _INSERT_QUERY,
        {
            "at": at,
            "client_id": client_id,
            "resident_id": resident_id,
            "service": service,
            "looked_up_by": looked_up_by,
            "entitled": entitled,
            "result": result,
        },
    )
    if resident_id is None:
        return  # nobody's record was looked at
    db_session.execute(
        _INSERT_AUDIT,
        {
            "at": at,
            "action": "partner.entitlement_checked",
            "resident_id": resident_id,
            "actor_type": "client",
            "actor_id": client_id,
            "channel": "partner",
            "details": {
                "client_name": client_name,
                "service": service,
                "looked_up_by": looked_up_by,
                "result": result,
            },
            "reason": None,
        },
    )


def dao_get_names(resident_id: str) -> tuple[str, str] | None:
    row = db_session.execute(
        select(Resident.given_name, Resident.family_name).where(Resident.id == resident_id)
    ).first()
    return (row.given_name, row.family_name) if row else None


def dao_list_checks_for_resident(resident_id: str, limit: int = 100) -> list[Any]:
    """The resident's partner checks, newest first, with the partner's registered name."""
    return list(
        db_session.execute(
            select(
                QUERIES.c.at,
                QUERIES.c.client_id,
                CLIENTS.c.name.label("client_name"),
                QUERIES.c.service,
                QUERIES.c.looked_up_by,
                QUERIES.c.entitled,
                QUERIES.c.result,
            )
            .select_from(QUERIES)
            .outerjoin(CLIENTS, CLIENTS.c.client_id == QUERIES.c.client_id)
            .where(QUERIES.c.resident_id == resident_id)
            .order_by(QUERIES.c.at.desc(), QUERIES.c.id.desc())
            .limit(limit)
        )
    )


def dao_list_entitlements(resident_id: str) -> list[Any]:
    return list(
        db_session.execute(
            select(STATES.c.service, STATES.c.status, STATES.c.valid_from, STATES.c.valid_until)
            .where(STATES.c.resident == resident_id)
            .order_by(STATES.c.service)
        )
    )
