"""``kentcard demo`` hook: the demo residents hold the services they are eligible for.

Grants go through the engine and the real ledger (append, then a signed tree head), so a
demo database has a ledger to look at, prove and verify. The demo pretends a Gateway
officer saw each resident's documents (facts at "checked"), which is what the bus pass
needs. Running the demo again adds nothing: a resident who already has a state for a
service in the projection is left alone, and no tree head is signed twice for one size.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import click
from flask import current_app
from sqlalchemy import Engine, select

from entitlements.catalogue import load_catalogue
from entitlements.due import record_facts, record_services
from entitlements.engine import decide
from entitlements.facts import Source, VerificationLevel
from entitlements.gazetteer import built_in_gazetteer
from entitlements.ledger import store
from entitlements.ledger.events import Channel, EventKind, LedgerEvent
from entitlements.ledger.signing import load_or_create_key
from entitlements.results import Outcome
from idservice.config import Settings
from idservice.models.residents import Resident
from idservice.services.demo_data import DEMO_RESIDENTS
from idservice.services.residents import dao_get_resident_by_email

DEMO_OFFICER = "staff-demo-gateway"
DEMO_EVIDENCE = "demo:documents-seen-at-gateway"


def _held(engine: Engine, residents: list[str]) -> set[tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(store.STATES.c.resident, store.STATES.c.service).where(
                store.STATES.c.resident.in_(residents)
            )
        )
        return {(row.resident, row.service) for row in rows}


def demo_grants(
    residents: list[Resident], held: set[tuple[str, str]], on: date
) -> list[LedgerEvent]:
    """A grant for every service each resident is eligible for and has no state for yet."""
    services = record_services(load_catalogue())
    gazetteer = built_in_gazetteer()
    now = datetime.now(UTC)
    events = []
    for resident in residents:
        facts = record_facts(
            resident.date_of_birth,
            resident.postcode,
            resident.uprn,
            now,
            VerificationLevel.CHECKED,
            Source.STAFF_SEEN_DOCUMENT,
            DEMO_OFFICER,
        )
        for service in services:
            if (resident.id, service.code) in held:
                continue
            decision = decide(service, facts, on, gazetteer)
            if decision.outcome is not Outcome.ELIGIBLE:
                continue
            events.append(
                LedgerEvent(
                    kind=EventKind.GRANT,
                    resident=resident.id,
                    service=service.code,
                    actor=DEMO_OFFICER,
                    channel=Channel.FACE_TO_FACE,
                    reason="eligible on documents seen at a Gateway (demo)",
                    occurred_at=now,
                    evidence=(DEMO_EVIDENCE,),
                    valid_from=decision.valid_from,
                    valid_until=decision.valid_until,
                )
            )
    return events


def grant_demo_entitlements() -> None:
    """Record the demo residents' grants in the ledger and sign a tree head over them."""
    engine: Engine = current_app.extensions["kentcard_engine"]
    settings: Settings = current_app.config["KENTCARD"]
    residents = [
        resident
        for data in DEMO_RESIDENTS
        if (resident := dao_get_resident_by_email(str(data["email"]))) and resident.is_active
    ]
    events = demo_grants(residents, _held(engine, [r.id for r in residents]), date.today())
    store.append(engine, events)
    with engine.connect() as conn:
        size, _ = store.read_head(conn, for_update=False)
    if store.latest_tree_head(engine, at_least=size) is None:
        store.sign_tree_head(engine, load_or_create_key(settings.instance_path))
    click.echo(f"Demo ledger: {len(events)} new grants, {size} events in all, tree head signed.")
