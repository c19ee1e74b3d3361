"""Random histories of one resident's facts, and replaying them through the real services.

A history is a resident (a date of birth, a Kent postcode) and a list of steps, each some
days after the one before: a move (online, at a Gateway or from a registrar's feed), a
corrected date of birth, a document or assessment staff record, an application for a
service (online or at a Gateway, answering the questions the journey asks), staff
approving waiting requests, or a registrar's "moved out of Kent". Every step goes through
the same service function the pages and the command line use, decided as on the step's
day (:func:`idservice.services.reevaluation.as_of`). The daily sweep runs once for each
day a step falls on, before the step (as the nightly job would; it catches up the days in
between), and once more on the final day.

The whole history lies in the past, ending on or before today: a registrar's move must be
dated within the last six years and no earlier than today, as the feed's rules say.
:func:`replay` returns what each step left (the facts, the engine's decision on every
service, the ledger's events and states) for the property test to judge.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from flask import Flask
from hypothesis import strategies as st
from sqlalchemy import select

from entitlements.catalogue import Service
from entitlements.dates import academic_year_start
from entitlements.engine import decide
from entitlements.facts import (
    Address,
    BlueBadgeDecision,
    Disability,
    DisabilityCategory,
    FactName,
    FactSet,
    FactValue,
    QualifyingAward,
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
from idservice.services import accounts, add_service, facts, life_events, reevaluation, sweep
from idservice.services.passwords import hash_password
from idservice.services.residents import create_resident
from tests.accounts.conftest import in_app
from tests.factories import STAFF_PASSWORD

CATALOGUE: tuple[Service, ...] = tuple(add_service.catalogue())
CODES = tuple(s.code for s in CATALOGUE)

#: Postcodes the built-in gazetteer knows, with a town for the address form.
KENT = {
    "ME14 1XQ": "Maidstone",
    "CT9 1AA": "Margate",
    "TN23 1AA": "Ashford",
    "DA11 0AA": "Gravesend",
}
ELSEWHERE = {
    "ME4 4AA": "Chatham",  # Medway: England, not Kent
    "BN1 1AA": "Brighton",  # East Sussex / Brighton and Hove
    "TN6 1AA": "Crowborough",  # Wealden, East Sussex
    "SE1 7PB": "London",
    "EH1 1YZ": "Edinburgh",  # Scotland: no grace for a bus pass
    "CF10 1AA": "Cardiff",  # Wales
    "DA1 1AA": "Dartford",  # straddles Kent and Bexley: needs proof of address
    "TN17 1AA": "Cranbrook",  # left out of the table on purpose: unknown postcode
}
TOWNS = {**KENT, **ELSEWHERE}

#: Staff and the registrar, as they appear on facts, requests and the ledger.
REASON = "resident at the desk"
DAY = timedelta(days=1)
#: A registrar may tell us of a move up to six years late; the history fits inside that.
SPAN_DAYS = 6 * 365 - 60


# --- the steps ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Move:
    postcode: str
    by: str  # resident (online), staff (at a Gateway) or registrar (a change of address)


@dataclass(frozen=True)
class CorrectBirth:
    """Staff correct the date of birth to make the resident ``age_days`` old that day."""

    age_days: int


@dataclass(frozen=True)
class Document:
    """Staff record what a document or a check they saw proves (a checked fact or better).

    ``what``: passport (the record's date of birth), council-tax-bill (the record's
    address), lives-in-kent, disability, education, school-year, companion, blue-badge,
    award. ``value`` and ``days`` (how long it lasts) where the kind has them.
    """

    what: str
    value: Any = None
    days: int | None = None


@dataclass(frozen=True)
class Answers:
    """What the resident answers if the journey asks (None: "none of these")."""

    works_in_kent: bool | None = None
    studies_in_kent: bool | None = None
    parental_consent: bool | None = None
    school_year: int | None = None
    full_time_education: bool | None = None
    disability: DisabilityCategory | None = None
    needs_companion: bool | None = None
    qualifying_award: QualifyingAward | None = None

    def value(self, name: FactName, on: date) -> FactValue | None:
        raw = getattr(self, name.value)
        if raw is None:
            return None
        if name is FactName.SCHOOL_YEAR:
            return SchoolYear(raw, academic_year_start(on))
        if name is FactName.DISABILITY:
            return Disability(raw, "what the resident told us")
        assert isinstance(raw, bool | QualifyingAward)
        return raw


@dataclass(frozen=True)
class Apply:
    service: str
    by_staff: bool
    answers: Answers = Answers()


@dataclass(frozen=True)
class GatewayVisit:
    """At a Gateway: staff see a passport, a Council Tax bill (the record's date of birth
    and address, checked) and ``documents``, then the resident applies for ``then``."""

    documents: tuple[Document, ...]
    then: Apply


@dataclass(frozen=True)
class Approve:
    """Staff try to approve every waiting request (refused when the facts fall short)."""


@dataclass(frozen=True)
class MoveOut:
    """A registrar's "moved out of Kent", dated the step's day."""


Action = Move | CorrectBirth | Document | Apply | GatewayVisit | Approve | MoveOut


@dataclass(frozen=True)
class Step:
    after_days: int
    action: Action


@dataclass(frozen=True)
class History:
    age_days: int  # the resident's age on the first day
    postcode: str
    email: bool
    steps: tuple[Step, ...]
    final_days: int  # days from the last step to the final date
    days_before_today: int  # the final date is this many days before today

    def days(self) -> tuple[date, list[date], date]:
        """The first day, each step's day and the final day, all in the past."""
        span = sum(s.after_days for s in self.steps) + self.final_days
        first = date.today() - timedelta(days=self.days_before_today + span)
        on, days = first, []
        for step in self.steps:
            on += timedelta(days=step.after_days)
            days.append(on)
        return first, days, on + timedelta(days=self.final_days)


# --- the strategy -----------------------------------------------------------------------------

_YEAR = 365


def _age_days(years: st.SearchStrategy[int]) -> st.SearchStrategy[int]:
    return st.builds(lambda y, d: y * _YEAR + d, years, st.integers(0, _YEAR - 1))


#: Ages from 5 to 95, often around the rules' thresholds (school years 7 to 11 and 16 to
#: 19, 18, 25, 60 and State Pension age). ``sampled_from`` draws evenly; ``integers``
#: would favour the youngest.
_AGES = st.one_of(
    _age_days(st.sampled_from(range(5, 96))),
    _age_days(st.sampled_from(range(10, 21))),
    _age_days(st.sampled_from((17, 18, 24, 25))),
    _age_days(st.sampled_from(range(58, 68))),
)
_DOCUMENTS = st.one_of(
    st.builds(Document, st.just("passport")),
    st.builds(Document, st.just("council-tax-bill")),
    st.builds(Document, st.just("lives-in-kent"), st.booleans()),
    st.builds(
        Document, st.just("disability"), st.sampled_from(DisabilityCategory), st.integers(1, 1500)
    ),
    st.builds(Document, st.just("education"), st.booleans()),
    st.builds(Document, st.just("school-year"), st.integers(5, 13)),
    st.builds(Document, st.just("companion"), st.booleans()),
    st.builds(Document, st.just("blue-badge"), st.booleans(), st.integers(1, 3 * _YEAR)),
    st.builds(Document, st.just("award"), st.sampled_from(QualifyingAward)),
)
_ANSWERS = st.builds(
    Answers,
    st.none() | st.booleans(),
    st.none() | st.booleans(),
    st.none() | st.booleans(),
    st.none() | st.integers(5, 13),
    st.none() | st.booleans(),
    st.none() | st.sampled_from(DisabilityCategory),
    st.none() | st.booleans(),
    st.none() | st.sampled_from(QualifyingAward),
)
#: The services someone of an age can usually get: applications favour them.
_FOR_AGE = (
    (range(0, 16), ("library", "kent-travel-saver", "partner-young-person-leisure")),
    (range(16, 20), ("16-plus-travel-saver", "library", "proof-of-age-18")),
    (range(20, 58), ("partner-young-person-leisure", "proof-of-age-18", "bus-pass-disabled")),
    (range(58, 200), ("bus-pass-older", "partner-leisure-60-plus", "bus-pass-companion")),
)
_PLACES = st.one_of(st.sampled_from(sorted(KENT)), st.sampled_from(sorted(ELSEWHERE)))


def _actions(years: int) -> st.SearchStrategy[Action]:
    """One action a step, weighted by repeating its kind; applications favour the
    services of the resident's first age."""
    likely = next(codes for ages, codes in _FOR_AGE if years in ages)
    apply = st.builds(
        Apply, st.sampled_from(CODES) | st.sampled_from(likely), st.booleans(), _ANSWERS
    )
    kinds: dict[str, st.SearchStrategy[Action]] = {
        "apply": apply,
        "gateway": st.builds(GatewayVisit, st.lists(_DOCUMENTS, max_size=2).map(tuple), apply),
        "approve": st.just(Approve()),
        "document": _DOCUMENTS,
        "move": st.builds(Move, _PLACES, st.sampled_from(["resident", "staff", "registrar"])),
        "birth": st.builds(CorrectBirth, _AGES),
        "move-out": st.just(MoveOut()),
    }
    weighted = ["apply"] * 6 + ["gateway"] * 4 + ["approve"] * 3 + ["document"] * 3
    weighted += ["move"] * 4 + ["birth"] * 2 + ["move-out"]
    return st.sampled_from(weighted).flatmap(kinds.__getitem__)


#: Days between steps: often the same day or soon after, sometimes most of a year.
_GAPS = st.one_of(st.just(0), st.integers(0, 60), st.integers(0, 400))


@st.composite
def histories(draw: st.DrawFn, max_steps: int = 12) -> History:
    """A resident and 4 to ``max_steps`` steps, the whole span within :data:`SPAN_DAYS`."""
    age_days = draw(_AGES)
    steps = st.builds(Step, _GAPS, _actions(age_days // _YEAR))
    kept: list[Step] = []
    span = 0
    for step in draw(st.lists(steps, min_size=4, max_size=max_steps)):
        if span + step.after_days > SPAN_DAYS:
            break
        kept.append(step)
        span += step.after_days
    final_days = draw(st.integers(0, min(400, SPAN_DAYS - span)))
    return History(
        age_days=age_days,
        postcode=draw(st.sampled_from(sorted(KENT))),
        email=draw(st.booleans()),
        steps=tuple(kept),
        final_days=final_days,
        days_before_today=draw(st.integers(0, SPAN_DAYS - span - final_days)),
    )


# --- replaying ------------------------------------------------------------------------------


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

    @property
    def last(self) -> After:
        return self.afters[-1]


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
        for r in add_service.dao_requests_for(resident_id)
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
        for request in add_service.dao_requests_for(self.resident_id):
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
