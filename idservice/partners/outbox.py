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
from sqlalchemy import select

from entitlements.ledger import store
from idservice.db import db_session
from idservice.models.oauth import Consent, OAuthClient
from idservice.models.partners import Partner, PartnerEvent
from idservice.oauth.claims import pairwise_sub
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
    rows = db_session.execute(
        select(Partner, OAuthClient)
        .join(OAuthClient, OAuthClient.client_id == Partner.client_id)
        .where(Partner.active.is_(True), Partner.webhook_url.is_not(None))
        .order_by(Partner.id)
    ).all()
    if not rows:
        return []
    held = set(
        db_session.scalars(
            select(store.STATES.c.service).where(store.STATES.c.resident == resident_id)
        )
    )
    consented = set(
        db_session.scalars(select(Consent.client_id).where(Consent.resident_id == resident_id))
    )
    return [
        (partner, client)
        for partner, client in rows
        if held & set(partner.services) or client.client_id in consented
    ]


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
