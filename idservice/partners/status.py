"""What staff see of event delivery: counts by status and the latest rows, no names."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select

from idservice.db import db_session, transactional
from idservice.models.partners import DELIVERY_STATUSES, Partner, PartnerEvent

STATUS_NAMES = {
    "pending": "Waiting or retrying",
    "delivered": "Delivered",
    "dead": "Failed: needs a person",
}
LIMIT = 100


@dataclass(frozen=True)
class Row:
    id: int
    partner: str
    event_type: str
    status: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    last_status: int | None
    last_error: str | None


@dataclass
class Summary:
    counts: dict[str, int] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)


def _counts() -> dict[str, int]:
    found = dict(
        db_session.execute(
            select(PartnerEvent.status, func.count()).group_by(PartnerEvent.status)
        ).all()
    )
    return {s: int(found.get(s, 0)) for s in DELIVERY_STATUSES}


@transactional
def counts() -> dict[str, int]:
    """How many events are in each delivery status (every status, zero included)."""
    return _counts()


@transactional
def summary(status: str | None = None, limit: int = LIMIT) -> Summary:
    query = (
        select(PartnerEvent, Partner.display_name)
        .join(Partner, Partner.id == PartnerEvent.partner_id)
        .order_by(PartnerEvent.id.desc())
        .limit(limit)
    )
    if status is not None:
        query = query.where(PartnerEvent.status == status)
    rows = [
        Row(
            e.id,
            name,
            e.event_type,
            e.status,
            e.attempts,
            e.created_at,
            e.next_attempt_at if e.status == "pending" else None,
            e.delivered_at,
            e.last_status,
            (e.last_error or "")[:200] or None,
        )
        for e, name in db_session.execute(query).all()
    ]
    return Summary(_counts(), rows)
