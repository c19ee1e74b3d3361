"""Residents due a service by a date: the database half of ``kentcard entitlements due``.

The database narrows residents to the service's date-of-birth window (from the State
Pension age tables and age rules, :func:`entitlements.due.birth_window`), active
accounts, and no current hold on the service in the ledger projection; the engine then
decides each one that is left on the resident's stored facts (``resident_facts``), so
the offer matches what the resident would be told: someone whose date of birth and
address staff have seen needs no more proof. The window is filtered on the record's date
of birth, which :mod:`idservice.services.facts` keeps equal to the current date-of-birth
fact (staff cannot record a different one without changing the record).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from itertools import islice
from typing import cast

from sqlalchemy import Connection, Engine, Table, and_, exists, select

from entitlements.catalogue import Service
from entitlements.due import DueResident, assess, birth_window, record_facts
from entitlements.facts import Fact, FactName, FactSet
from entitlements.gazetteer import Gazetteer
from entitlements.ledger.tables import EntitlementStateRow
from idservice.models.facts import ResidentFact
from idservice.models.residents import RESIDENT_ACTIVE, Resident
from idservice.services.facts import to_fact

STATES = cast(Table, EntitlementStateRow.__table__)
HELD = ("active", "suspended")  # a suspended pass is still held: do not offer it again
FACTS = cast(Table, ResidentFact.__table__)
_READ_BATCH = 5_000
_FACT_BATCH = 500


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


Row = tuple[str, date, str, str | None, datetime]


def dao_current_facts(conn: Connection, residents: list[str]) -> dict[str, list[Fact]]:
    """Current facts of a batch of residents, for the engine."""
    found: dict[str, list[Fact]] = {resident: [] for resident in residents}
    query = select(FACTS).where(FACTS.c.resident_id.in_(residents), FACTS.c.superseded_at.is_(None))
    for row in conn.execute(query):
        found[row.resident_id].append(to_fact(row))
    return found


def _facts(row: Row, stored: list[Fact]) -> FactSet:
    """Stored facts; the record's own when none are stored for the date of birth (a row
    written before facts were kept, which the migration should have filled)."""
    if any(fact.name is FactName.DATE_OF_BIRTH for fact in stored):
        return FactSet.of(stored)
    _, dob, postcode, uprn, updated = row
    recorded = updated if updated.tzinfo else updated.replace(tzinfo=UTC)
    return FactSet.of([*record_facts(dob, postcode, uprn, recorded), *stored])


def _batches(rows: Iterable[Row]) -> Iterator[list[Row]]:
    iterator = iter(rows)
    while batch := list(islice(iterator, _FACT_BATCH)):
        yield batch


def due_residents(
    engine: Engine, services: list[Service], on: date, gazetteer: Gazetteer
) -> Iterator[DueResident]:
    """Everyone who meets each service's rules on ``on`` and does not hold it yet."""
    for service in services:
        rows = dao_residents_in_birth_window(engine, service, on)
        for batch in _batches(rows):
            with engine.connect() as conn:
                stored = dao_current_facts(conn, [row[0] for row in batch])
            for row in batch:
                due = assess(service, row[0], _facts(row, stored[row[0]]), on, gazetteer)
                if due is not None:
                    yield due
