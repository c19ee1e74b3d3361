"""Data access for adding services (``dao_*``): held entitlements and service requests.

The held entitlements are read from the ledger's projection; the other services that need
them (life events, erasure) read them here too.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from entitlements.ledger import store as ledger
from entitlements.ledger.projection import EntitlementState
from idservice.db import db_session
from idservice.models.residents import Resident
from idservice.models.service_requests import REQUEST_WAITING, ServiceRequest
from idservice.services.residents import NotFound

#: A held service is not offered again: suspended is still held.
HELD = ("active", "suspended")


def dao_held_states(
    resident_id: str, services: Collection[str] | None = None
) -> list[EntitlementState]:
    """The resident's active and suspended entitlements (of ``services`` if given), by code."""
    query = select(ledger.STATES).where(
        ledger.STATES.c.resident == resident_id, ledger.STATES.c.status.in_(HELD)
    )
    if services is not None:
        query = query.where(ledger.STATES.c.service.in_(sorted(services)))
    rows = db_session.execute(query.order_by(ledger.STATES.c.service))
    return [ledger._state_from_row(row) for row in rows]


def dao_lock_ledger_head() -> None:
    """Lock the ledger's head row for the rest of the transaction (a no-op update)."""
    db_session.execute(
        update(ledger.HEAD).where(ledger.HEAD.c.id == 1).values(size=ledger.HEAD.c.size)
    )


def dao_requests_for(resident_id: str) -> list[ServiceRequest]:
    query = (
        select(ServiceRequest)
        .where(ServiceRequest.resident_id == resident_id)
        .order_by(ServiceRequest.requested_at.desc())
    )
    return list(db_session.scalars(query))


def dao_waiting_request(resident_id: str, code: str) -> ServiceRequest | None:
    return db_session.scalar(
        select(ServiceRequest).where(
            ServiceRequest.resident_id == resident_id,
            ServiceRequest.service == code,
            ServiceRequest.status == REQUEST_WAITING,
        )
    )


def dao_request_of(resident_id: str, request_id: str) -> ServiceRequest:
    """The resident's own request; anybody else's is :class:`NotFound`, never "forbidden"."""
    request = db_session.get(ServiceRequest, request_id)
    if request is None or request.resident_id != resident_id:
        raise NotFound("service request")
    return request


def dao_add_request(request: ServiceRequest) -> bool:
    """Store a new request; False if the same request is already waiting (sent twice)."""
    try:
        with db_session.begin_nested():
            db_session.add(request)
            db_session.flush()
    except IntegrityError:
        return False
    return True


def dao_waiting_requests(limit: int = 200) -> list[tuple[ServiceRequest, Resident]]:
    query = (
        select(ServiceRequest, Resident)
        .join(Resident, Resident.id == ServiceRequest.resident_id)
        .where(ServiceRequest.status == REQUEST_WAITING)
        .order_by(ServiceRequest.expected_by, ServiceRequest.requested_at)
        .limit(limit)
    )
    return [(row[0], row[1]) for row in db_session.execute(query)]
