"""Residents due a service by a date: the database half of ``kentcard entitlements due``.

The database narrows residents to the service's date-of-birth window (from the State
Pension age tables and age rules, :func:`entitlements.due.birth_window`), active
accounts, and no current hold on the service in the ledger projection; the engine then
decides each one that is left, so the offer matches what the resident would be told.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import cast

from sqlalchemy import Engine, Table, and_, exists, select

from entitlements.catalogue import Service
from entitlements.due import DueResident, assess, birth_window, record_facts
from entitlements.gazetteer import Gazetteer
from entitlements.ledger.tables import EntitlementStateRow
from idservice.models.residents import RESIDENT_ACTIVE, Resident

STATES = cast(Table, EntitlementStateRow.__table__)
HELD = ("active", "suspended")  # a suspended pass is still held: do not offer it again
_READ_BATCH = 5_000


def dao_residents_in_birth_window(
    engine: Engine, service: Service, on: date
) -> Iterator[tuple[str, date, str, str | None, datetime]]:
    """Active residents born inside the window who do not hold ``service``, oldest first."""
    earliest, latest = birth_window(service, on)
    held = exists().where(
        and_(
            STATES.c.resident == Resident.id,
            STATES.c.service == service.code,
            STATES.c.status.in_(HELD),
        )
    )
    query = (
        select(
            Resident.id,
            Resident.date_of_birth,
            Resident.postcode,
            Resident.uprn,
            Resident.updated_at,
        )
        .where(Resident.status == RESIDENT_ACTIVE, Resident.date_of_birth <= latest, ~held)
        .order_by(Resident.date_of_birth, Resident.id)
    )
    if earliest is not None:
        query = query.where(Resident.date_of_birth >= earliest)
    with engine.connect() as conn:
        for row in conn.execute(query.execution_options(yield_per=_READ_BATCH)):
            yield row[0], row[1], row[2], row[3], row[4]


def due_residents(
    engine: Engine, services: list[Service], on: date, gazetteer: Gazetteer
) -> Iterator[DueResident]:
    """Everyone who meets each service's rules on ``on`` and does not hold it yet."""
    for service in services:
        for resident, dob, postcode, uprn, updated in dao_residents_in_birth_window(
            engine, service, on
        ):
            recorded = updated if updated.tzinfo else updated.replace(tzinfo=UTC)
            facts = record_facts(dob, postcode, uprn, recorded)
            due = assess(service, resident, facts, on, gazetteer)
            if due is not None:
                yield due
