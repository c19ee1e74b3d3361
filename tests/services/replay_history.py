"""Replaying a history (:mod:`tests.services.fact_history`) through the real services.

Each step runs in its own app context, decided as on its day (``reevaluation.as_of``),
through the service function the pages, the staff console or the registrar's feed use;
the daily sweep runs for each new day before its first step and once more on the final
day. After each step (and sweep) what it left is read back: the facts, the engine's
decision on every service that day, the ledger's states and the events the step appended,
and the requests still waiting.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import date, timedelta

from flask import Flask
from sqlalchemy import select

from entitlements.dates import academic_year_start
from entitlements.engine import decide
from entitlements.facts import (
    Address,
    BlueBadgeDecision,
    Disability,
    FactName,
    FactSet,
    FactValue,
    SchoolYear,
)
from entitlements.gazetteer import built_in_gazetteer
from entitlements.journey import Route, route
from entitlements.ledger import store
from entitlements.ledger.events import LedgerEvent
from entitlements.ledger.projection import EntitlementState
from entitlements.results import Decision
from idservice.db import db_session
from idservice.models.residents import Resident
from idservice.models.service_requests import REQUEST_WAITING
from idservice.models.staff import StaffMember
from idservice.services import (
    accounts,
    add_service,
    add_service_dao,
    facts,
    life_events,
    reevaluation,
    sweep,
)
from idservice.services.passwords import hash_password
from idservice.services.residents import create_resident
from tests.accounts.conftest import in_app
from tests.factories import STAFF_PASSWORD
from tests.services.fact_history import (
    CATALOGUE,
    TOWNS,
    Action,
    Apply,
    Approve,
    CorrectBirth,
    Document,
    GatewayVisit,
    History,
    Move,
    MoveOut,
)

#: Why a Gateway officer has the record open (on the audit trail).
REASON = "resident at the desk"


@dataclass
class After:
    """What one step (or sweep) left behind, read back after it committed."""

    label: str
    on: date
    action: Action | str  # a step's action, "sweep" or "registered"
    facts: FactSet
    decisions: dict[str, Decision]
    states: dict[str, EntitlementState]
    before: dict[str, EntitlementState]  # the states before this step
    events: list[LedgerEvent]  # the ledger events this step appended
    waiting: dict[str, str]  # service -> id of each waiting request
    refused: str | None = None  # the service said no, with this message


@dataclass
class Replay:
    resident_id: str
    afters: list[After] = field(default_factory=list)


@functools.cache
def _staff_password_hash() -> str:
    return hash_password(STAFF_PASSWORD)


def _gateway_officer() -> str:
    """A Gateway officer (a real row: requests and facts name them), without hashing a
    password for every example."""
    staff = StaffMember(
        email="officer@kent.example",
        name="Pat Officer",
        role="gateway-officer",
        password_hash=_staff_password_hash(),
    )
    db_session.add(staff)
    db_session.flush()
    return staff.id


def _read(
    resident_id: str, on: date
) -> tuple[FactSet, dict[str, Decision], dict[str, EntitlementState], dict[str, str]]:
    held = facts.facts_for(resident_id)
    places = built_in_gazetteer()
    decisions = {s.code: decide(s, held, on, places) for s in CATALOGUE}
    rows = db_session.execute(select(store.STATES).where(store.STATES.c.resident == resident_id))
    states = {r.service: store._state_from_row(r) for r in rows}
    waiting = {
        r.service: r.id
        for r in add_service_dao.dao_requests_for(resident_id)
        if r.status == REQUEST_WAITING
    }
    return held, decisions, states, waiting


def _events_after(seq: int) -> list[tuple[int, LedgerEvent]]:
    rows = db_session.execute(
        select(store.EVENTS.c.body).where(store.EVENTS.c.seq > seq).order_by(store.EVENTS.c.seq)
    )
    return [LedgerEvent.from_body(r.body.encode()) for r in rows]


class _Replayer:
    def __init__(self, app: Flask, history: History) -> None:
        self.app = app
        self.history = history
        self.seq = 0
        self.states: dict[str, EntitlementState] = {}
        self.replay: Replay | None = None
        self.swept: date | None = None
        self.staff_id = ""

    @property
    def resident_id(self) -> str:
        assert self.replay is not None
        return self.replay.resident_id

    def record(
        self, label: str, on: date, action: Action | str, refused: str | None = None
    ) -> None:
        assert self.replay is not None
        with in_app(self.app):
            held, decisions, states, waiting = _read(self.resident_id, on)
            appended = _events_after(self.seq)
        if appended:
            self.seq = appended[-1][0]
        events = [e for _, e in appended]
        self.replay.afters.append(
            After(label, on, action, held, decisions, states, self.states, events, waiting, refused)
        )
        self.states = states

    def sweep(self, on: date) -> None:
        with in_app(self.app), reevaluation.as_of(on):
            sweep.sweep(on)
        self.swept = on
        if self.replay is not None:
            self.record(f"sweep on {on}", on, "sweep")

    def start(self, first: date) -> None:
        history = self.history
        self.sweep(first)
        with in_app(self.app), reevaluation.as_of(first):
            self.staff_id = _gateway_officer()
            resident = create_resident(
                given_name="Ada",
                family_name="Lovelace",
                date_of_birth=first - timedelta(days=history.age_days),
                address_line_1="1 First Street",
                town=TOWNS[history.postcode],
                postcode=history.postcode,
                email="ada@example.com" if history.email else None,
            )
            db_session.commit()
            self.replay = Replay(resident.id)
        self.record(f"registered on {first}", first, "registered")

    # Each action returns what the service refused, if it refused.

    def do(self, index: int, on: date, action: Action) -> str | None:
        with in_app(self.app), reevaluation.as_of(on):
            return getattr(self, "_" + type(action).__name__.lower())(index, on, action)

    def _staff(self, reason: str = REASON) -> facts.Recorder:
        return facts.Recorder("staff", self.staff_id, "face-to-face", "gateway-officer", reason)

    def _applicant(self, by_staff: bool) -> add_service.Applicant:
        if by_staff:
            return add_service.Applicant.staff(
                self.resident_id, self.staff_id, "gateway-officer", "face-to-face", REASON
            )
        return add_service.Applicant.resident(self.resident_id)

    def _move(self, index: int, on: date, action: Move) -> str | None:
        address = {
            "address_line_1": f"{index} New Road",
            "town": TOWNS[action.postcode],
            "postcode": action.postcode,
        }
        if action.by == "registrar":
            notifier = life_events.Notifier("registrar", "registrar-feed", reference=f"AD-{index}")
            life_events.record_address_change(notifier, self.resident_id, on, address)
        elif action.by == "staff":
            accounts.update_details(
                self.resident_id,
                address,
                actor_type="staff",
                actor_id=self.staff_id,
                channel="face-to-face",
                reason=REASON,
                extra_details={"staff_role": "gateway-officer"},
            )
        else:
            accounts.update_details(self.resident_id, address, channel="web")
        return None

    def _correctbirth(self, index: int, on: date, action: CorrectBirth) -> str | None:
        accounts.update_details(
            self.resident_id,
            {"date_of_birth": on - timedelta(days=action.age_days)},
            actor_type="staff",
            actor_id=self.staff_id,
            channel="phone",
            reason="typing mistake",
            extra_details={"staff_role": "gateway-officer"},
        )
        return None

    def _document(self, index: int, on: date, action: Document) -> str | None:
        resident = db_session.get(Resident, self.resident_id)
        assert resident is not None
        school_year_end = facts.default_expiry(FactName.FULL_TIME_EDUCATION, on)
        ends = on + timedelta(days=action.days) if action.days else None
        name, value, evidence, expires = {
            "passport": (FactName.DATE_OF_BIRTH, resident.date_of_birth, "passport", None),
            "council-tax-bill": (
                FactName.ADDRESS,
                Address(resident.postcode),
                "council-tax-bill",
                None,
            ),
            "lives-in-kent": (FactName.LIVES_IN_KENT, action.value, "council-tax-bill", None),
            "disability": (
                FactName.DISABILITY,
                Disability(action.value, "award letter"),
                "benefit-award-letter",
                ends,  # the award's end date
            ),
            "education": (
                FactName.FULL_TIME_EDUCATION,
                action.value,
                "school-or-college-letter",
                school_year_end,
            ),
            "school-year": (
                FactName.SCHOOL_YEAR,
                SchoolYear(action.value, academic_year_start(on)),
                "school-or-college-letter",
                school_year_end,
            ),
            "companion": (FactName.NEEDS_COMPANION, action.value, "council-assessment", None),
            "blue-badge": (
                FactName.BLUE_BADGE_DECISION,
                BlueBadgeDecision(action.value, on, ends if action.value else None),
                "council-assessment",
                None,
            ),
            "award": (FactName.QUALIFYING_AWARD, action.value, "dwp-check", None),
        }[action.what]
        facts.record_fact(
            self.resident_id,
            name,
            value,
            evidence_type=evidence,
            evidence_last4="1234",
            by=self._staff(),
            expires_on=expires,
        )
        return None

    def _apply(self, index: int, on: date, action: Apply) -> str | None:
        applicant = self._applicant(action.by_staff)
        answers: dict[FactName, FactValue | None] = {}
        while True:  # the journey's question pages, one at a time
            plan = add_service.plan(applicant, action.service, answers, on)
            if plan.held is not None or plan.waiting is not None or plan.question is None:
                break
            answers[plan.question] = action.answers.value(plan.question, on)
        already = plan.held is not None or plan.waiting is not None
        try:
            add_service.apply(applicant, action.service, answers, on)
        except add_service.ApplicationProblem as problem:
            assert already, f"applying for {action.service} was refused: {problem}"
            return str(problem)
        assert not already, f"{action.service} was applied for twice"
        return None

    def _gatewayvisit(self, index: int, on: date, action: GatewayVisit) -> str | None:
        for document in (Document("passport"), Document("council-tax-bill"), *action.documents):
            self._document(index, on, document)
        return self._apply(index, on, action.then)

    def _approve(self, index: int, on: date, action: Approve) -> str | None:
        refused = []
        applicant = self._applicant(by_staff=True)
        for request in add_service_dao.dao_requests_for(self.resident_id):
            if request.status != REQUEST_WAITING:
                continue
            service = add_service.service_for(request.service)
            decision = decide(service, facts.facts_for(self.resident_id), on, built_in_gazetteer())
            expected = route(decision) is Route.GRANT
            try:
                add_service.approve(applicant, request.id, on)
            except add_service.ApplicationProblem as problem:
                assert not expected, f"approving {request.service} was refused: {problem}"
                refused.append(request.service)
                continue
            assert expected, f"{request.service} was approved though the engine said {decision}"
        return ", ".join(refused) or None

    def _moveout(self, index: int, on: date, action: MoveOut) -> str | None:
        notifier = life_events.Notifier("registrar", "registrar-feed", reference=f"MV-{index}")
        life_events.record_move_out(notifier, self.resident_id, on)
        return None


def replay(app: Flask, history: History) -> Replay:
    """Replay ``history`` (the database must be empty); returns what each step left."""
    first, days, final = history.days()
    replayer = _Replayer(app, history)
    replayer.start(first)
    for index, (on, step) in enumerate(zip(days, history.steps, strict=True)):
        if replayer.swept != on:
            replayer.sweep(on)
        refused = replayer.do(index, on, step.action)
        replayer.record(f"step {index} on {on}: {step.action}", on, step.action, refused)
    replayer.sweep(final)
    assert replayer.replay is not None
    return replayer.replay
