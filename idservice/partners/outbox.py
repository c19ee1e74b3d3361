"""Writing events for partners into the outbox, inside the caller's transaction.

Who is told: an active partner with a webhook hears of a resident only if the resident
holds (or held) one of the partner's services in the ledger, or has agreed to share with
the partner's client (a consent). A partner that never served the resident learns
nothing, not even that the resident exists. Events carry no personal values: the partner
gets its pairwise subject identifier, the type of event and dates.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask import current_app
from sqlalchemy import select, update

from entitlements.ledger import store
from idservice.db import db_session, transactional
from idservice.models.base import utcnow
from idservice.models.oauth import Consent, OAuthClient
from idservice.models.partners import DELIVERY_DEAD, DELIVERY_PENDING, Partner, PartnerEvent
from idservice.oauth.claims import pairwise_sub
from idservice.partners import registry
from idservice.partners.secevent import ENTITLEMENT_ENDED, event_uri


@dataclass(frozen=True)
class EndedEntitlement:
    service: str
    ended_on: date
    reason: str  # a reason code: "death", "moved-out-of-kent", "erasure"


def new_jti() -> str:
    return uuid.uuid4().hex


def _connected(resident_id: str) -> list[tuple[Partner, OAuthClient]]:
    """Active partners with a webhook that have a relationship with this resident."""
    return _connected_many([resident_id])[resident_id]


def _partners() -> list[Any]:
    """Active partners with a webhook, with their OAuth clients, by id."""
    return list(
        db_session.execute(
            select(Partner, OAuthClient)
            .join(OAuthClient, OAuthClient.client_id == Partner.client_id)
            .where(Partner.active.is_(True), Partner.webhook_url.is_not(None))
            .order_by(Partner.id)
        ).all()
    )


def _connected_many(resident_ids: list[str]) -> dict[str, list[tuple[Partner, OAuthClient]]]:
    """:func:`_connected` for many residents with three queries in all."""
    found: dict[str, list[tuple[Partner, OAuthClient]]] = {r: [] for r in resident_ids}
    rows = _partners()
    if not rows or not resident_ids:
        return found
    held: dict[str, set[str]] = {r: set() for r in resident_ids}
    for resident, service in db_session.execute(
        select(store.STATES.c.resident, store.STATES.c.service).where(
            store.STATES.c.resident.in_(resident_ids)
        )
    ):
        held[resident].add(service)
    consented: dict[str, set[str]] = {r: set() for r in resident_ids}
    for resident, client_id in db_session.execute(
        select(Consent.resident_id, Consent.client_id).where(Consent.resident_id.in_(resident_ids))
    ):
        consented[resident].add(client_id)
    for resident_id in resident_ids:
        found[resident_id] = [
            (partner, client)
            for partner, client in rows
            if held[resident_id] & set(partner.services)
            or client.client_id in consented[resident_id]
        ]
    return found


def connected_partners(*resident_ids: str) -> list[tuple[Partner, OAuthClient]]:
    """Partners with a relationship with any of these residents, each once, by id."""
    found: dict[int, tuple[Partner, OAuthClient]] = {}
    for resident_id in resident_ids:
        for partner, client in _connected(resident_id):
            found.setdefault(partner.id, (partner, client))
    return [found[key] for key in sorted(found)]


def enqueue(
    partner: Partner,
    client: OAuthClient,
    resident_id: str,
    event_type: str,
    payload: dict[str, Any],
    life_event_id: str | None,
) -> PartnerEvent:
    event_uri(event_type)  # refuses an unknown type before anything is written
    row = PartnerEvent(
        jti=new_jti(),
        partner_id=partner.id,
        life_event_id=life_event_id,
        event_type=event_type,
        subject=pairwise_sub(current_app.config["KENTCARD"], client.sector, resident_id),
        payload=payload,
    )
    db_session.add(row)
    return row


def notify(
    resident_id: str,
    event_type: str | None,
    payload: dict[str, Any],
    ended: list[EndedEntitlement],
    life_event_id: str | None,
) -> list[PartnerEvent]:
    """Outbox rows for a life event (none if ``event_type`` is None) and the entitlements
    it ended; the caller commits."""
    rows = []
    for partner, client in _connected(resident_id):
        if event_type is not None and event_type in partner.events:
            rows.append(enqueue(partner, client, resident_id, event_type, payload, life_event_id))
        if ENTITLEMENT_ENDED in partner.events:
            for end in ended:
                if end.service in partner.services:
                    body = {
                        "service": end.service,
                        "ended_on": end.ended_on.isoformat(),
                        "reason": end.reason,
                    }
                    rows.append(
                        enqueue(
                            partner, client, resident_id, ENTITLEMENT_ENDED, body, life_event_id
                        )
                    )
    db_session.flush()
    return rows


def entitlements_ended(resident_id: str, ended: list[EndedEntitlement]) -> list[PartnerEvent]:
    """``entitlement-ended`` outbox rows for one resident, as :func:`notify` writes them
    for ``ended`` alone, with one query: a partner that serves a service the resident held
    has the relationship :func:`notify` looks for, so only the partners are read. The
    caller flushes (with the rest of its writes) and commits."""
    if not ended:
        return []
    rows = []
    for partner, client in _partners():
        if ENTITLEMENT_ENDED not in partner.events:
            continue
        for end in ended:
            if end.service in partner.services:
                body = {
                    "service": end.service,
                    "ended_on": end.ended_on.isoformat(),
                    "reason": end.reason,
                }
                rows.append(enqueue(partner, client, resident_id, ENTITLEMENT_ENDED, body, None))
    return rows


def notify_ended(ended: list[tuple[str, EndedEntitlement]]) -> list[PartnerEvent]:
    """``entitlement-ended`` outbox rows for many residents at once (the daily sweep): the
    same partners and events :func:`notify` would write for each, with a few queries."""
    residents = list(dict.fromkeys(resident for resident, _ in ended))
    connected = _connected_many(residents)
    rows = []
    for resident_id, end in ended:
        for partner, client in connected[resident_id]:
            if ENTITLEMENT_ENDED in partner.events and end.service in partner.services:
                body = {
                    "service": end.service,
                    "ended_on": end.ended_on.isoformat(),
                    "reason": end.reason,
                }
                rows.append(enqueue(partner, client, resident_id, ENTITLEMENT_ENDED, body, None))
    db_session.flush()
    return rows


@transactional
def requeue_dead(client_id: str | None = None) -> int:
    """Send dead events again, with the same jti (after the partner is fixed); only one
    partner's with ``client_id``. The number of events queued again."""
    query = update(PartnerEvent).where(PartnerEvent.status == DELIVERY_DEAD)
    if client_id is not None:
        query = query.where(PartnerEvent.partner_id == registry.get_partner(client_id).id)
    result = db_session.execute(
        query.values(
            status=DELIVERY_PENDING, attempts=0, next_attempt_at=utcnow(), lease_until=None
        ).execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0))
