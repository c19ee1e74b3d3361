"""``kentcard demo`` hook: the demo residents hold the services they are eligible for.

Grants go through the engine and the real ledger (append, then a signed tree head), so a
demo database has a ledger to look at, prove and verify. The demo pretends the demo
Gateway officer saw each resident's passport and Council Tax bill: their date of birth and
address are stored as facts at "checked", which is what the bus pass needs. A few more
facts show reuse in the add-a-service journey: Sam told the library he is in full-time
education (the 16+ Travel Saver asks nothing more and waits for a school letter), and DWP
confirmed Grace's PIP award (the Blue Badge is granted at once, without questions).
Running the demo again adds nothing: facts already held are not recorded twice, a
resident with a state for a service is left alone, and no tree head is signed twice.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import click
from flask import current_app
from sqlalchemy import Engine, select

from entitlements.catalogue import load_catalogue
from entitlements.dates import academic_year_bounds, academic_year_start
from entitlements.due import record_services
from entitlements.engine import decide
from entitlements.facts import Address, FactName, FactSet, QualifyingAward, VerificationLevel
from entitlements.gazetteer import built_in_gazetteer
from entitlements.ledger import store
from entitlements.ledger.events import Channel, EventKind, LedgerEvent
from entitlements.results import Outcome
from idservice.cards.issuer_keys import ledger_signing_key
from idservice.config import Settings
from idservice.db import db_session
from idservice.models.residents import Resident
from idservice.services import facts
from idservice.services.demo_data import DEMO_RESIDENTS
from idservice.services.residents import dao_get_resident_by_email
from idservice.staff import dao as staff_dao
from idservice.staff.demo import DEMO_EMAIL as DEMO_STAFF_EMAIL

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


def record_demo_facts(residents: list[Resident], on: date) -> None:
    """The demo residents' facts, as the demo officer and the residents recorded them."""
    staff = staff_dao.dao_get_staff_by_email(DEMO_STAFF_EMAIL)
    officer = facts.Recorder(
        "staff",
        staff.id if staff is not None else DEMO_OFFICER,
        "face-to-face",
        "gateway-officer",
        "Demo: documents seen at a Gateway",
    )
    checked = VerificationLevel.CHECKED
    for resident in residents:
        facts.record(
            resident.id,
            FactName.DATE_OF_BIRTH,
            resident.date_of_birth,
            source="staff-seen-document",
            level=checked,
            by=officer,
            evidence_type="passport",
            evidence_last4="DEMO",
        )
        facts.record(
            resident.id,
            FactName.ADDRESS,
            Address(resident.postcode, resident.uprn),
            source="staff-seen-document",
            level=checked,
            by=officer,
            evidence_type="council-tax-bill",
            evidence_last4="DEMO",
        )
        if resident.email == "sam.patel@example.com":
            facts.record(
                resident.id,
                FactName.FULL_TIME_EDUCATION,
                True,
                source="self-declared",
                level=VerificationLevel.DECLARED,
                by=facts.Recorder("resident", resident.id, "web"),
                expires_on=academic_year_bounds(academic_year_start(on))[1],
            )
        if resident.email == "grace.hopper@example.com":
            facts.record(
                resident.id,
                FactName.QUALIFYING_AWARD,
                QualifyingAward.PIP_MOVING_AROUND_8,
                source="government-department",
                level=VerificationLevel.VERIFIED,
                by=officer,
                evidence_type="dwp-check",
                evidence_last4="DEMO",
            )


def demo_grants(
    residents: list[tuple[str, FactSet]], held: set[tuple[str, str]], on: date
) -> list[LedgerEvent]:
    """A grant for every service the record decides that each resident is eligible for on
    their stored facts and has no state for yet (the rest are left for the journey)."""
    services = record_services(load_catalogue())
    gazetteer = built_in_gazetteer()
    now = datetime.now(UTC)
    events = []
    for resident_id, known in residents:
        for service in services:
            if (resident_id, service.code) in held:
                continue
            decision = decide(service, known, on, gazetteer)
            if decision.outcome is not Outcome.ELIGIBLE:
                continue
            events.append(
                LedgerEvent(
                    kind=EventKind.GRANT,
                    resident=resident_id,
                    service=service.code,
                    actor=DEMO_OFFICER,
                    channel=Channel.FACE_TO_FACE,
                    reason="eligible on documents seen at a Gateway (demo)",
                    occurred_at=now,
                    evidence=(DEMO_EVIDENCE, *decision.evidence),
                    valid_from=decision.valid_from,
                    valid_until=decision.valid_until
                    or (decision.valid_from and service.details_due(decision.valid_from)),
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
    today = date.today()
    record_demo_facts(residents, today)
    db_session.commit()  # the ledger's append below takes the write lock on its own
    known = [(r.id, facts.facts_for(r.id)) for r in residents]
    events = demo_grants(known, _held(engine, [r.id for r in residents]), today)
    store.append(engine, events)
    with engine.connect() as conn:
        size, _ = store.read_head(conn, for_update=False)
    if store.latest_tree_head(engine, at_least=size) is None:
        key = ledger_signing_key(settings.instance_path, settings.database_url)
        store.sign_tree_head(engine, key)
    click.echo(f"Demo ledger: {len(events)} new grants, {size} events in all, tree head signed.")
