"""Data access for the partner API (``dao_*``): Core statements, no ORM on the hot path.

A check is one indexed SELECT (the card number's unique index, or the pairwise subject's
primary key, joined to the entitlement projection's and the consents' keys), then two
INSERTs (the query log and the audit record) and the commit. The lean path
(``partner_api/lean.py``) adds the token's checks to the SELECT and, on PostgreSQL,
writes both rows in one statement.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import and_, bindparam, insert, literal, select

from entitlements.ledger.tables import STATES
from idservice.db import LeanConnection, LeanStatement, db_session
from idservice.models.audit import AuditRecord
from idservice.models.cards import Card
from idservice.models.oauth import Consent, OAuthClient
from idservice.models.partner_api import PairwiseSubject, PartnerQuery
from idservice.models.residents import Resident
from idservice.oauth.dao import ONE_ROW, service_token_columns, token_is_good

if TYPE_CHECKING:
    from sqlalchemy import Table

CARDS = Card.__table__
SUBJECTS = PairwiseSubject.__table__
CONSENTS = Consent.__table__
QUERIES = PartnerQuery.__table__
CLIENTS = OAuthClient.__table__
RESIDENTS = Resident.__table__


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
    query, audit = _record_params(
        at, client_id, client_name, resident_id, service, looked_up_by, entitled, result
    )
    db_session.execute(_INSERT_QUERY, query)
    if resident_id is not None:  # else nobody's record was looked at
        db_session.execute(_INSERT_AUDIT, audit)


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


# -- the lean path (idservice/partner_api/lean.py) --------------------------------------


def _lean_lookup(first: Any, on: Any, resident: Any, *columns: Any) -> Any:
    """:data:`_BY_CARD` or :data:`_BY_SUBJECT` with the service token's columns, outer
    joined from one row so that an unknown card or subject still answers for the token."""
    state = and_(STATES.c.resident == resident, STATES.c.service == bindparam("service"))
    consent = and_(
        CONSENTS.c.resident_id == resident, CONSENTS.c.client_id == bindparam("client_id")
    )
    return select(
        *service_token_columns(),
        resident.label("resident_id"),
        *columns,
        STATES.c.status,
        STATES.c.valid_from,
        STATES.c.valid_until,
        CONSENTS.c.scope.label("consent_scope"),
    ).select_from(
        ONE_ROW.outerjoin(first, on).outerjoin(STATES, state).outerjoin(CONSENTS, consent)
    )


_LEAN_BY_CARD = LeanStatement(
    _lean_lookup(
        CARDS,
        CARDS.c.card_number == bindparam("card_number"),
        CARDS.c.resident_id,
        CARDS.c.status.label("card_status"),
        CARDS.c.expiry.label("card_expiry"),
    )
)
_LEAN_BY_SUBJECT = LeanStatement(
    _lean_lookup(
        SUBJECTS,
        and_(SUBJECTS.c.sector == bindparam("sector"), SUBJECTS.c.subject == bindparam("subject")),
        SUBJECTS.c.resident_id,
        literal(None).label("card_status"),
        literal(None).label("card_expiry"),
    )
)


def dao_lean_lookup(
    connection: LeanConnection,
    *,
    client_id: str,
    jti: str,
    service: str,
    card_number: str | None = None,
    sector: str | None = None,
    subject: str | None = None,
) -> tuple[bool, Found | None]:
    """(the service token is still good, what the card number or subject found): one
    round trip. A card number with a wrong check digit is sent as None (finds nobody)."""
    params: dict[str, str | None] = {"client_id": client_id, "jti": jti, "service": service}
    if subject is None:
        statement = _LEAN_BY_CARD
        params["card_number"] = card_number
    else:
        statement = _LEAN_BY_SUBJECT
        params.update(sector=sector, subject=subject)
    (row,) = connection.rows(statement, params)
    return token_is_good(row), (_found(row) if row.resident_id is not None else None)


#: :data:`_BY_CARD` with the resident's names, for a caller with a lean connection of its
#: own and no token to check: the SIP2 bridge (idservice/sip2/bridge.py), whose kiosks
#: logged in over SIP2 and are given a member's name in the form their library needs.
_LEAN_FIND_BY_CARD_WITH_NAMES = LeanStatement(
    _BY_CARD.add_columns(RESIDENTS.c.given_name, RESIDENTS.c.family_name).outerjoin(
        RESIDENTS, RESIDENTS.c.id == CARDS.c.resident_id
    )
)


def dao_lean_find_by_card_number(
    connection: LeanConnection, card_number: str, service: str, client_id: str
) -> tuple[Found | None, tuple[str, str] | None]:
    """:func:`dao_find_by_card_number` on a lean connection, with the resident's given and
    family names (for the caller to release only what it may)."""
    rows = connection.rows(
        _LEAN_FIND_BY_CARD_WITH_NAMES,
        {"card_number": card_number, "service": service, "client_id": client_id},
    )
    if not rows:
        return None, None
    return _found(rows[0]), (rows[0].given_name, rows[0].family_name)


def _record_params(
    at: datetime,
    client_id: str,
    client_name: str,
    resident_id: str | None,
    service: str,
    looked_up_by: str,
    entitled: bool,
    result: str,
) -> tuple[dict[str, Any], dict[str, Any]]:
    query = {
        "at": at,
        "client_id": client_id,
        "resident_id": resident_id,
        "service": service,
        "looked_up_by": looked_up_by,
        "entitled": entitled,
        "result": result,
    }
    audit = {
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
    }
    return query, audit


_QUERY_COLUMNS = ("at", "client_id", "resident_id", "service", "looked_up_by", "entitled", "result")
_AUDIT_COLUMNS = (
    "at",
    "action",
    "resident_id",
    "actor_type",
    "actor_id",
    "channel",
    "details",
    "reason",
)

#: PostgreSQL: the query log row and the audit record in one statement (atomic without a
#: transaction: a data-modifying CTE runs with its statement or not at all).
_LOGGED_AND_AUDITED = LeanStatement(
    insert(cast("Table", AuditRecord.__table__))
    .values({name: bindparam(f"audit_{name}") for name in _AUDIT_COLUMNS})
    .add_cte(
        insert(cast("Table", QUERIES))
        .values({name: bindparam(f"query_{name}") for name in _QUERY_COLUMNS})
        .cte("logged")
    )
    .inline()
)


_LEAN_INSERT_QUERY = LeanStatement(
    insert(cast("Table", QUERIES)).values({name: bindparam(name) for name in _QUERY_COLUMNS})
)
_LEAN_INSERT_AUDIT = LeanStatement(
    insert(cast("Table", AuditRecord.__table__))
    .values({name: bindparam(name) for name in _AUDIT_COLUMNS})
    .inline()
)


def dao_lean_record_check(connection: LeanConnection, **values: Any) -> None:
    """:func:`dao_record_check` on the lean path's connection, all or nothing.

    On PostgreSQL one statement (autocommit); elsewhere the two INSERTs in the
    connection's transaction, which the caller commits.
    """
    query, audit = _record_params(**values)
    if values["resident_id"] is None:
        connection.run(_LEAN_INSERT_QUERY, query)
    elif connection.driver:
        params = {f"query_{k}": v for k, v in query.items()}
        params.update({f"audit_{k}": v for k, v in audit.items()})
        params["audit_details"] = json.dumps(audit["details"])  # the driver takes JSON as text
        connection.run(_LOGGED_AND_AUDITED, params)
    else:
        connection.run(_LEAN_INSERT_QUERY, query)
        connection.run(_LEAN_INSERT_AUDIT, audit)
