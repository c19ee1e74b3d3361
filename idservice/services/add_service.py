"""Adding a service to a resident's account, online or with staff help.

The same functions serve the resident's own pages and the staff console; only the
:class:`Applicant` differs (who, through which channel, and for staff their role and the
reason the record is open). Facts already held are reused; answers given in the journey
are stored as self-declared facts in the same transaction as the outcome, so the next
service does not ask again. The outcome is one of:

- **granted**: the rules are met on evidence good enough for the service; a ``grant``
  event goes into the ledger (pseudonymous resident id, actor, channel, the stored facts it
  relied on as evidence references) with the audit record, in one transaction;
- **waiting**: the rules are met on what we know but evidence must be checked, or the
  council must assess; a :class:`ServiceRequest` is stored with the date the resident is
  told to expect a decision (catalogue ``decision_days``, working days);
- **not eligible**: nothing is granted or requested, and the reasons are shown.

Staff with the permission approve a waiting request (only once the facts on record meet
the rules: they record what they saw first) or refuse it with a reason.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from entitlements.catalogue import Catalogue, Service, load_catalogue
from entitlements.dates import long_date
from entitlements.engine import decide
from entitlements.facts import Fact, FactName, FactValue, Provenance, Source, VerificationLevel
from entitlements.gazetteer import built_in_gazetteer
from entitlements.journey import Route, expected_decision, facts_read, next_question, route
from entitlements.ledger import store as ledger
from entitlements.ledger.events import Channel, EventKind, LedgerEvent
from entitlements.results import Decision
from idservice import audit
from idservice.db import db_session, transactional
from idservice.models.base import utcnow
from idservice.models.residents import Resident
from idservice.models.service_requests import (
    REQUEST_APPROVED,
    REQUEST_REFUSED,
    REQUEST_WAITING,
    REQUEST_WITHDRAWN,
    ServiceRequest,
)
from idservice.services import facts, notices, offers, renewals
from idservice.services.add_service_dao import HELD as HELD  # read by reevaluation
from idservice.services.add_service_dao import (
    dao_add_request,
    dao_held_states,
    dao_lock_ledger_head,
    dao_request_of,
    dao_requests_for,
    dao_waiting_request,
    dao_waiting_requests,
)
from idservice.services.residents import NotFound, dao_get_resident_by_id

#: The ledger's projection, which the held services are read from.
STATES = ledger.STATES

#: Answers given in the journey: a value, or None for "none of these".
Answers = Mapping[FactName, FactValue | None]


@functools.cache
def catalogue() -> Catalogue:
    return load_catalogue()


def service_for(code: str) -> Service:
    """The catalogue entry, or :class:`NotFound` (a 404) for a code that is not in it."""
    try:
        return catalogue().get(code)
    except KeyError:
        raise NotFound("service") from None


@dataclass(frozen=True)
class Applicant:
    """Who is applying for the resident: the resident online, or staff helping them."""

    resident_id: str
    recorder: facts.Recorder

    @classmethod
    def resident(cls, resident_id: str) -> Applicant:
        return cls(resident_id, facts.Recorder("resident", resident_id, "web"))

    @classmethod
    def staff(
        cls, resident_id: str, staff_id: str, staff_role: str, channel: str, reason: str | None
    ) -> Applicant:
        return cls(resident_id, facts.Recorder("staff", staff_id, channel, staff_role, reason))

    @property
    def staff_id(self) -> str | None:
        return self.recorder.id if self.recorder.type == "staff" else None

    @property
    def ledger_actor(self) -> str:
        return self.staff_id or "resident"

    def audit(self, action: str, **details: object) -> None:
        extra: dict[str, object] = dict(details)
        if self.recorder.staff_role:
            extra.update(staff_role=self.recorder.staff_role, assisted=True)
        audit.record(
            action,
            resident_id=self.resident_id,
            actor_type=self.recorder.type,
            actor_id=self.recorder.id,
            channel=self.recorder.channel,
            details=extra,
            reason=self.recorder.reason,
        )


# --- what the resident holds ---------------------------------------------------------------


@dataclass(frozen=True)
class Held:
    service: Service
    status: str
    valid_from: date | None
    valid_until: date | None

    @property
    def confirms_details(self) -> bool:
        return self.service.renewal is not None and self.service.renewal.confirms_details

    @property
    def term(self) -> str:
        """How long it lasts, in the words the pages show."""
        if self.status == "suspended":
            return (
                "Paused until the details are confirmed" if self.confirms_details else "Suspended"
            )
        if self.confirms_details:
            due = (
                f". Details to confirm by {long_date(self.valid_until)}" if self.valid_until else ""
            )
            return f"Valid with no end date{due}"
        if self.valid_until:
            return f"Valid until {long_date(self.valid_until)}"
        if self.service.lasts.card:
            return "Valid until the Kent Card expires"
        return "Valid with no end date"

    def renewable(self, on: date, default_days: int) -> bool:
        """Whether the renewal window is open on ``on`` (from the invitation day; a paused
        "confirm-details" service can always be confirmed)."""
        renewal = self.service.renewal
        if renewal is None or self.valid_until is None:
            return False
        if self.status == "suspended":
            return renewal.confirms_details
        return on >= renewal.window_opens(self.valid_until, default_days)


def held_services(resident_id: str) -> dict[str, Held]:
    """The resident's current entitlements from the ledger's projection, by service code."""
    codes = set(catalogue().codes)
    return {
        state.service: Held(
            service_for(state.service), state.status, state.valid_from, state.valid_until
        )
        for state in dao_held_states(resident_id)
        if state.service in codes
    }


# --- what the resident has and can add -------------------------------------------------------


@dataclass(frozen=True)
class Offer:
    """A service the resident can now get and has not taken ("You can now get ...")."""

    id: int
    service: Service
    offered_on: date
    needs_evidence: bool


@dataclass
class Overview:
    held: list[Held] = field(default_factory=list)
    requests: list[tuple[ServiceRequest, Service]] = field(default_factory=list)
    addable: list[Service] = field(default_factory=list)
    offers: list[Offer] = field(default_factory=list)
    #: Codes of held services inside their renewal window (the list links to renew them).
    renewable: set[str] = field(default_factory=set)


def offers_open(resident_id: str, held: Mapping[str, Held], waiting: set[str]) -> list[Offer]:
    codes = set(catalogue().codes)
    return [
        Offer(o.id, service_for(o.service), o.offered_on, o.needs_evidence)
        for o in offers.dao_open_offers(resident_id)
        if o.service in codes and o.service not in held and o.service not in waiting
    ]


@transactional
def overview(resident_id: str, on: date | None = None) -> Overview:
    dao_get_resident_by_id(resident_id)
    held = held_services(resident_id)
    requests = [
        (r, service_for(r.service))
        for r in dao_requests_for(resident_id)
        if r.service in catalogue().codes
    ]
    waiting = {r.service for r, _ in requests if r.status == REQUEST_WAITING}
    offered = offers_open(resident_id, held, waiting)
    shown = {o.service.code for o in offered}
    addable = [
        s
        for s in catalogue()
        if s.code not in held and s.code not in waiting and s.code not in shown
    ]
    today = on or date.today()
    renewable = {code for code, h in held.items() if renewals.renewable(h, today)}
    return Overview(list(held.values()), requests, addable, offered, renewable)


def _declared(name: FactName, value: FactValue, applicant: Applicant) -> Fact:
    """An answer not yet saved, as the engine will see it once it is."""
    provenance = Provenance(
        Source.SELF_DECLARED,
        VerificationLevel.DECLARED,
        applicant.recorder.id or applicant.recorder.type,
        datetime.now(UTC),
    )
    return Fact(name, value, provenance)


@dataclass(frozen=True)
class Plan:
    """Where an application stands: the decision on what we know and the answers so far."""

    service: Service
    decision: Decision
    route: Route
    question: FactName | None
    reused: list[facts.ShownFact]
    held: Held | None
    waiting: ServiceRequest | None
    #: Held and inside its renewal window: the journey renews it (``held`` is then None).
    renewing: Held | None = None


def _decision(
    resident_id: str, service: Service, on: date, extra: list[Fact]
) -> tuple[Decision, Held | None]:
    """The engine's answer, and the entitlement being renewed when it is one."""
    held = held_services(resident_id).get(service.code)
    if held is not None and renewals.renewable(held, on):
        return renewals.decide_renewal(resident_id, service, held, on, extra), held
    return decide(service, facts.facts_for(resident_id, extra), on, built_in_gazetteer()), None


@transactional
def plan(applicant: Applicant, code: str, answers: Answers, on: date) -> Plan:
    service = service_for(code)
    resident_id = applicant.resident_id
    dao_get_resident_by_id(resident_id)
    extra = [_declared(n, v, applicant) for n, v in answers.items() if v is not None]
    decision, renewing = _decision(resident_id, service, on, extra)
    reads = set(facts_read(service))
    reused = [
        facts.shown(row)
        for row in facts.dao_current_fact_rows(resident_id)
        if FactName(row.name) in reads and FactName(row.name) not in answers
    ]
    return Plan(
        service,
        decision,
        route(decision, answers),
        next_question(decision, answers),
        reused,
        None if renewing else held_services(resident_id).get(code),
        dao_waiting_request(resident_id, code),
        renewing,
    )


# --- applying -----------------------------------------------------------------------------


class ApplicationProblem(Exception):
    """The application cannot go ahead; the message says why in plain words."""


@dataclass(frozen=True)
class Result:
    route: Route
    decision: Decision
    request: ServiceRequest | None = None
    ledger_seq: int | None = None


def _grant(
    applicant: Applicant,
    service: Service,
    decision: Decision,
    reason: str,
    *refs: str,
    on: date | None = None,
) -> int:
    """Append the grant (or, for a held service inside its renewal window, the renewal)
    in the caller's transaction. The ledger's head row is locked first and the projection
    read again, so two applications sent at once cannot both grant or both renew."""
    dao_lock_ledger_head()
    held = held_services(applicant.resident_id).get(service.code)
    renewing = held is not None and on is not None and renewals.renewable(held, on)
    if held is not None and not renewing:
        raise ApplicationProblem(f"{service.name} has just been added")
    event = LedgerEvent(
        kind=EventKind.RENEW if renewing else EventKind.GRANT,
        resident=applicant.resident_id,
        service=service.code,
        actor=applicant.ledger_actor,
        channel=Channel(applicant.recorder.channel),
        reason=f"renewed: {reason}" if renewing else reason,
        occurred_at=utcnow(),
        evidence=(*decision.evidence, *refs),
        valid_from=held.valid_from if renewing and held is not None else decision.valid_from,
        valid_until=renewals.grant_until(service, decision, applicant.resident_id),
    )
    return ledger.append_in(db_session.connection(), [event])[0]


@transactional
def apply(applicant: Applicant, code: str, answers: Answers, on: date) -> Result:
    """Save the answers as facts, decide, and grant, request or explain, all at once."""
    service = service_for(code)
    resident = dao_get_resident_by_id(applicant.resident_id)
    if not resident.is_active:
        raise ApplicationProblem("This account is closed, so services cannot be added to it")
    held = held_services(resident.id).get(code)
    if held is not None and not renewals.renewable(held, on):
        raise ApplicationProblem(f"You already have {service.name}")
    waiting = dao_waiting_request(resident.id, code)
    if waiting is not None:
        raise ApplicationProblem(f"A request for {service.name} is already waiting for a decision")
    for name, value in answers.items():
        if value is not None:
            facts.record(
                resident.id,
                name,
                value,
                source="self-declared",
                level=VerificationLevel.DECLARED,
                by=applicant.recorder,
                expires_on=facts.default_expiry(name, on),
            )
    decision, renewing = _decision(resident.id, service, on, [])
    where = route(decision, answers)
    if where is Route.GRANT:
        why = "eligible: rules met on the evidence held"
        seq = _grant(applicant, service, decision, why, on=on)
        offers.taken(resident.id, code)
        applicant.audit(
            "service.renewed" if renewing else "service.granted", service=code, ledger_seq=seq
        )
        return Result(where, decision, ledger_seq=seq)
    if where is Route.NOT_ELIGIBLE:
        applicant.audit("service.not_eligible", service=code)
        return Result(where, decision)
    if where is Route.ASK:  # answers were saved; the pages ask the next question
        return Result(where, decision)
    request = ServiceRequest(
        resident_id=resident.id,
        service=code,
        status=REQUEST_WAITING,
        channel=applicant.recorder.channel,
        requested_by_staff_id=applicant.staff_id,
        expected_by=expected_decision(service, on),
        needs=sorted({need.fact.value for need in decision.needs}),
    )
    if not dao_add_request(request):  # the same request sent twice at once: one waits
        raise ApplicationProblem(f"A request for {service.name} is already waiting for a decision")
    offers.taken(resident.id, code)
    applicant.audit("service.requested", service=code, request=request.id, needs=request.needs)
    return Result(where, decision, request=request)


# --- requests: the resident's view, withdrawing, and staff decisions -------------------------


@transactional
def request_for_resident(resident_id: str, request_id: str) -> ServiceRequest:
    """The resident's own request; anybody else's is "not found", never "forbidden"."""
    return dao_request_of(resident_id, request_id)


@transactional
def withdraw(applicant: Applicant, request_id: str) -> ServiceRequest:
    request = dao_request_of(applicant.resident_id, request_id)
    if request.status != REQUEST_WAITING:
        raise ApplicationProblem("This request has already been decided, so it cannot be withdrawn")
    request.status = REQUEST_WITHDRAWN
    request.decided_at = utcnow()
    applicant.audit("service.request_withdrawn", service=request.service, request=request.id)
    return request


def _waiting_for(applicant: Applicant, request_id: str) -> ServiceRequest:
    request = dao_request_of(applicant.resident_id, request_id)
    if request.status != REQUEST_WAITING:
        raise ApplicationProblem("This request has already been decided")
    return request


@transactional
def approve(applicant: Applicant, request_id: str, on: date) -> ServiceRequest:
    """Grant a waiting request, if the facts on record now meet the service's rules."""
    request = _waiting_for(applicant, request_id)
    service = service_for(request.service)
    decision, _ = _decision(request.resident_id, service, on, [])
    if route(decision) is not Route.GRANT:
        still = "; ".join(need.why for need in decision.needs) or " ".join(decision.reasons)
        raise ApplicationProblem(
            "The facts on record do not meet the rules yet, so this cannot be approved. "
            f"{still} Record what you have seen first, or refuse the request"
        )
    assert applicant.staff_id is not None
    request.ledger_seq = _grant(
        applicant,
        service,
        decision,
        "approved after evidence checked",
        f"request:{request.id}",
        on=on,
    )
    request.status = REQUEST_APPROVED
    request.decided_at = utcnow()
    request.decided_by_staff_id = applicant.staff_id
    applicant.audit(
        "service.request_approved",
        service=request.service,
        request=request.id,
        ledger_seq=request.ledger_seq,
    )
    notices.send(
        dao_get_resident_by_id(request.resident_id),
        "request-approved",
        service=service.name,
        valid_from=long_date(decision.valid_from or on),
        valid_until=long_date(decision.valid_until) if decision.valid_until else None,
        on_card=service.on_card,
    )
    return request


@transactional
def refuse(applicant: Applicant, request_id: str, why: str) -> ServiceRequest:
    """Refuse with a reason the resident is shown on their request page."""
    request = _waiting_for(applicant, request_id)
    assert applicant.staff_id is not None
    request.status = REQUEST_REFUSED
    request.decided_at = utcnow()
    request.decided_by_staff_id = applicant.staff_id
    request.decision_reason = why
    applicant.audit("service.request_refused", service=request.service, request=request.id)
    notices.send(
        dao_get_resident_by_id(request.resident_id),
        "request-refused",
        service=service_for(request.service).name,
        why=why,
    )
    return request


@dataclass(frozen=True)
class Waiting:
    """A request waiting for a decision, judged on the facts held now."""

    request: ServiceRequest
    service: Service
    #: "ready" (the facts meet the rules: it can be approved), "evidence" (proof still
    #: needed) or "not eligible" (the facts held now do not meet the rules).
    state: str
    needs: list[FactName]

    @property
    def needs_words(self) -> str:
        return ", ".join(facts.FACT_LABELS[name].lower() for name in self.needs)


def standing(decision: Decision) -> str:
    """Where a waiting request stands on a decision: see :attr:`Waiting.state`."""
    return {Route.GRANT: "ready", Route.NOT_ELIGIBLE: "not eligible"}.get(
        route(decision), "evidence"
    )


def still_needed(decision: Decision) -> list[FactName]:
    return list(dict.fromkeys(need.fact for need in decision.needs))


def still_needed_words(decision: Decision) -> str:
    return ", ".join(facts.FACT_LABELS[name].lower() for name in still_needed(decision))


def _judge(request: ServiceRequest, on: date) -> Waiting:
    service = service_for(request.service)
    decision = decide(service, facts.facts_for(request.resident_id), on, built_in_gazetteer())
    return Waiting(request, service, standing(decision), still_needed(decision))


@transactional
def waiting_for_resident(resident_id: str, on: date) -> list[Waiting]:
    """The resident's requests waiting for a decision, each with where it stands now."""
    return [
        _judge(r, on)
        for r in dao_requests_for(resident_id)
        if r.status == REQUEST_WAITING and r.service in catalogue().codes
    ]


@transactional
def waiting_requests(staff_id: str, staff_role: str) -> list[tuple[ServiceRequest, Resident]]:
    """The queue, soonest due first; looking at it is audited (without a resident)."""
    rows = dao_waiting_requests()
    audit.record(
        "staff.viewed_requests",
        resident_id=None,
        actor_type="staff",
        actor_id=staff_id,
        channel="web",
        details={"staff_role": staff_role, "shown": len(rows)},
    )
    return rows
