"""Data access for life events (``dao_*``): the resident's row lock and the events told."""

from __future__ import annotations

from sqlalchemy import select, update

from idservice.db import db_session
from idservice.models.base import utcnow
from idservice.models.partners import LifeEvent
from idservice.models.residents import Resident
from idservice.services.residents import NotFound


def dao_lock_resident(resident_id: str) -> Resident:
    """Touch the row first (the lock), then read it; :class:`NotFound` if there is none."""
    result = db_session.execute(
        update(Resident)
        .where(Resident.id == resident_id)
        .values(updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if not getattr(result, "rowcount", 0):
        raise NotFound("resident")
    resident = db_session.get(Resident, resident_id, populate_existing=True)
    assert resident is not None
    return resident


def dao_add_life_event(event: LifeEvent) -> LifeEvent:
    """Store the event and give it its id."""
    db_session.add(event)
    db_session.flush()
    return event


def dao_life_events(resident_id: str) -> list[LifeEvent]:
    """The events told about the resident, in the order they were recorded."""
    return list(
        db_session.scalars(
            select(LifeEvent).where(LifeEvent.resident_id == resident_id).order_by(LifeEvent.id)
        )
    )
