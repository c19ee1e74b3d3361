"""Entitlements follow the facts: every change of fact is decided again before it commits.

Whenever a resident's facts change (registration, change of details, a staff correction,
a document seen, an answer in a journey, a registrar's life event), ``facts.record`` and
``facts.supersede`` note it on the session; just before the transaction commits,
:func:`reevaluate` runs for each resident noted, in the same transaction, so the change
and everything that follows from it land together or not at all:

- an entitlement held (active or suspended) whose rules now fail ends with a ``revoke``
  event naming the rule (``not eligible: lives-in-kent``) and the facts it read (evidence
  references), the partners that serve it get an ``entitlement-ended`` Security Event
  Token, and the resident a notice. Card readers ask the ledger's state online, so they
  refuse it from the commit on. When the catalogue gives the rule a grace period
  (``[[service.grace]]``: a bus pass holder moving within England) it is cut short to
  the end of that period with a ``renew`` event instead, and the sweep expires it then;
- an entitlement still met whose facts now end sooner (a disability decision with an end
  date) is cut short to that date;
- a request waiting for evidence that the resident no longer qualifies for is closed with
  the reason (status ``refused``, decided by the system), and they are told;
- services they can now get are offered (:mod:`idservice.services.offers`) with one
  notice, and offers no longer open to them are withdrawn.

Only a rule that fails ends anything: a fact we no longer hold, or hold with less
evidence than the service needs, is looked at again at renewal, not taken as "no".
Deaths and erasures end everything through their own code; closed records are left alone.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Boolean, Date, String, cast, event, literal, null, select, union_all
from sqlalchemy.orm import Session, SessionTransaction

from entitlements.catalogue import GRACE_PLACES, Service
from entitlements.dates import long_date
from entitlements.engine import decide
from entitlements.facts import FactName, FactSet
from entitlements.gazetteer import Postcode, PostcodeError, built_in_gazetteer
from entitlements.ledger import store as ledger
from entitlements.ledger.events import Channel, EventKind, LedgerEvent
from entitlements.results import Decision, Outcome
from idservice import audit
from idservice.db import db_session, session_factory
from idservice.models.base import utcnow
from idservice.models.notices import ServiceOffer
from idservice.models.residents import Resident
from idservice.models.service_requests import REQUEST_REFUSED, REQUEST_WAITING, ServiceRequest
from idservice.partners import outbox
from idservice.services import add_service, facts, notices, offers

#: Why a rule failing ends a service, in words for the notice (never the values).
WHY: dict[str, str] = {
    "lives-in-kent": "the address we hold for you is not in Kent, and this service is for "
    "people who live in Kent",
    "lives-works-or-studies-in-kent": "you no longer live, work or study in Kent",
    "reached-bus-pass-age": "the date of birth we now hold means you have not reached the "
    "age for it",
    "age-at-least": "the date of birth we now hold means you are under the age for it",
    "age-under": "the date of birth we now hold means you are over the age for it",
    "consent-if-under": "we no longer hold a parent or guardian's consent",
    "school-year-between": "you are no longer in the school years it is for",
    "age-on-31-august-between": "you are no longer in the age range it is for",
    "in-full-time-education": "you are no longer in full-time education or training",
    "statutory-disability": "the evidence of disability it relied on has ended",
    "needs-companion": "the assessment that you need a companion has ended",
    "blue-badge": "the award it relied on has ended",
}
MOVED_ON = (
    "If you have moved, apply to the council for your new address: they decide what you can "
    "have there."
)
#: How the reason of a ``renew`` event that cuts a grant to its grace period begins: the
#: sweep reads it to expire that grant later without announcing the end a second time.
GRACE_REASON_PREFIX = "ending:"
#: Partners are told this reason code when a service ends because its rules fail.
NO_LONGER_ELIGIBLE = "no-longer-eligible"


def why(tests: Sequence[str]) -> str:
    words = [WHY.get(t, "you no longer meet its rules") for t in tests] or [
        "you no longer meet its rules"
    ]
    text = "; ".join(dict.fromkeys(words))
    return text[0].upper() + text[1:] + "."


# --- the day the service thinks it is -------------------------------------------------------

_TODAY = "kentcard.reevaluate_on"


def today() -> date:
    """The day decisions are made for: today, or the day a job runs for (``as_of``)."""
    on = db_session().info.get(_TODAY)
    return on if isinstance(on, date) else date.today()


@contextmanager
def as_of(on: date) -> Iterator[None]:
    """Decide as on ``on`` within the block (the sweep's ``--on``, tests of a given day)."""
    info = db_session().info
    before = info.get(_TODAY)
    info[_TODAY] = on
    try:
        yield
    finally:
        if before is None:
            info.pop(_TODAY, None)
        else:
            info[_TODAY] = before


# --- what changed ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Ending:
    service: str
    ends_on: date  # the last day it can be used
    tests: tuple[str, ...]
    grace_days: int | None = None


@dataclass
class Result:
    ended: list[Ending] = field(default_factory=list)
    ending: list[Ending] = field(default_factory=list)
    shortened: list[Ending] = field(default_factory=list)
    requests_closed: list[str] = field(default_factory=list)
    offered: list[str] = field(default_factory=list)
    withdrawn: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(vars(self).values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "ended": [e.service for e in self.ended],
            "ending": {e.service: e.ends_on.isoformat() for e in self.ending},
            "shortened": {e.service: e.ends_on.isoformat() for e in self.shortened},
            "requests_closed": self.requests_closed,
            "offered": self.offered,
            "offers_withdrawn": self.withdrawn,
        }


@dataclass(frozen=True)
class Actor:
    """Who made the change that is being followed: on the ledger events and the audit."""

    type: str  # resident, staff, partner, system
    id: str | None
    channel: str
    staff_role: str | None = None

    @classmethod
    def of(cls, by: facts.Recorder) -> Actor:
        return cls(by.type, by.id, by.channel, by.staff_role)

    @property
    def ledger_actor(self) -> str:
        if self.type == "staff" and self.id:
            return self.id
        return {"resident": "resident", "partner": "partner"}.get(self.type, "system")

    @property
    def ledger_channel(self) -> Channel:
        try:
            return Channel(self.channel)
        except ValueError:
            return Channel.SYSTEM


SYSTEM = Actor("system", None, "system")


# --- what the resident holds, has asked for and was offered: one read ----------------------


@dataclass(frozen=True)
class Standing:
    held: dict[str, add_service.Held]
    waiting: dict[str, str]  # service code -> id of the request waiting for it
    offers: list[offers.OfferSeen]


def dao_standing(resident_id: str) -> Standing:
    """The resident's held entitlements, waiting requests and offers in one statement (a
    re-evaluation follows every change of fact: three round trips were most of its time)."""
    db_session.flush()  # what this transaction changed counts
    no_date, no_text, no_flag = cast(null(), Date), cast(null(), String), cast(null(), Boolean)
    states = add_service.STATES
    query = union_all(
        select(
            literal("held", String).label("kind"),
            states.c.service,
            states.c.status,
            states.c.valid_from.label("first"),
            states.c.valid_until.label("last"),
            no_text.label("ref"),
            no_flag.label("flag"),
        ).where(states.c.resident == resident_id, states.c.status.in_(add_service.HELD)),
        select(
            literal("request", String),
            ServiceRequest.service,
            ServiceRequest.status,
            no_date,
            no_date,
            ServiceRequest.id,
            no_flag,
        ).where(
            ServiceRequest.resident_id == resident_id, ServiceRequest.status == REQUEST_WAITING
        ),
        select(
            literal("offer", String),
            ServiceOffer.service,
            ServiceOffer.status,
            no_date,
            ServiceOffer.declined_until,
            cast(ServiceOffer.id, String),
            ServiceOffer.needs_evidence,
        ).where(ServiceOffer.resident_id == resident_id),
    )
    catalogue = add_service.catalogue()
    standing = Standing({}, {}, [])
    for row in db_session.execute(query):
        if row.kind == "held" and row.service in catalogue.codes:
            standing.held[row.service] = add_service.Held(
                catalogue.get(row.service), row.status, row.first, row.last
            )
        elif row.kind == "request":
            standing.waiting[row.service] = row.ref
        elif row.kind == "offer":
            standing.offers.append(
                offers.OfferSeen(int(row.ref), row.service, row.status, bool(row.flag), row.last)
            )
    return standing


def _moved_within(place: str, held_facts: FactSet, on: date) -> bool:
    """Whether the address held is in ``place`` (England), from the gazetteer."""
    fact = held_facts.get(FactName.ADDRESS, on)
    if fact is None:
        return False
    try:
        lookup = built_in_gazetteer().lookup(Postcode.parse(fact.value.postcode))  # type: ignore[union-attr]
    except (PostcodeError, AttributeError):
        return False
    prefix = GRACE_PLACES[place]
    return bool(lookup.authorities) and all(a.startswith(prefix) for a in lookup.authorities)


def _grace_days(service: Service, decision: Decision, held_facts: FactSet, on: date) -> int | None:
    """Days of grace when every failing rule has a grace period that applies, else None."""
    days = []
    for test in decision.failed:
        grace = service.grace_for(test)
        if grace is None:
            return None
        if grace.moved_within and not _moved_within(grace.moved_within, held_facts, on):
            return None
        days.append(grace.days)
    return min(days) if days else None


def _event(
    kind: EventKind, actor: Actor, resident_id: str, held: add_service.Held, reason: str, **kw: Any
) -> LedgerEvent:
    return LedgerEvent(
        kind=kind,
        resident=resident_id,
        service=held.service.code,
        actor=actor.ledger_actor,
        channel=actor.ledger_channel,
        reason=reason[:200],
        occurred_at=utcnow(),
        **kw,
    )


def reevaluate(
    resident_id: str,
    on: date,
    actor: Actor = SYSTEM,
    references: Sequence[str] = (),
    *,
    notify: bool = True,
    tell_offers: bool = True,
    change: facts.Change | None = None,
) -> Result:
    """Decide every held, requested and offerable service again for ``resident_id`` on
    ``on``, in the caller's transaction, and act on what changed (module docstring)."""
    result = Result()
    resident = db_session.get(Resident, resident_id)
    if resident is None or not resident.is_active:
        return result
    held_facts = facts.facts_for(resident_id, change=change)
    places = built_in_gazetteer()
    catalogue = add_service.catalogue()
    decisions = {s.code: decide(s, held_facts, on, places) for s in catalogue}
    standing = dao_standing(resident_id)
    held = standing.held
    events: list[LedgerEvent] = []
    ended_for_partners: list[outbox.EndedEntitlement] = []
    for code, h in sorted(held.items()):
        decision = decisions[code]
        if decision.outcome is Outcome.NOT_ELIGIBLE:
            evidence = tuple(dict.fromkeys([*decision.evidence, *references]))[:16]
            rule = ", ".join(decision.failed)
            grace = _grace_days(h.service, decision, held_facts, on)
            if grace is not None:
                ends_on = on + timedelta(days=grace)
                if h.valid_until is not None and h.valid_until <= ends_on:
                    continue  # already ending by then: nothing more to do
                events.append(
                    _event(
                        EventKind.RENEW,
                        actor,
                        resident_id,
                        h,
                        f"{GRACE_REASON_PREFIX} not eligible: {rule}; grace {grace} days",
                        evidence=evidence,
                        valid_from=h.valid_from,
                        valid_until=ends_on,
                    )
                )
                ending = Ending(code, ends_on, decision.failed, grace)
                result.ending.append(ending)
                ended_for_partners.append(
                    outbox.EndedEntitlement(code, ends_on + timedelta(days=1), NO_LONGER_ELIGIBLE)
                )
                continue
            events.append(
                _event(
                    EventKind.REVOKE,
                    actor,
                    resident_id,
                    h,
                    f"not eligible: {rule}",
                    evidence=evidence,
                )
            )
            result.ended.append(Ending(code, on, decision.failed))
            ended_for_partners.append(outbox.EndedEntitlement(code, on, NO_LONGER_ELIGIBLE))
        elif (
            decision.outcome is Outcome.ELIGIBLE
            and decision.valid_until is not None
            and (h.valid_until is None or decision.valid_until < h.valid_until)
        ):
            events.append(
                _event(
                    EventKind.RENEW,
                    actor,
                    resident_id,
                    h,
                    "ends sooner: a fact it relies on ends",
                    evidence=tuple(dict.fromkeys([*decision.evidence, *references]))[:16],
                    valid_from=h.valid_from,
                    valid_until=decision.valid_until,
                )
            )
            result.shortened.append(Ending(code, decision.valid_until, ()))
    if events:
        ledger.append_in(db_session.connection(), events)
    outbox.entitlements_ended(resident_id, ended_for_partners)

    for code, request_id in sorted(standing.waiting.items()):
        answer = decisions.get(code)
        if answer is not None and answer.outcome is Outcome.NOT_ELIGIBLE:
            request = db_session.get(ServiceRequest, request_id)
            assert request is not None, "a request read in this transaction is gone"
            _close_request(request, answer, actor)
            result.requests_closed.append(code)
    still_waiting = set(standing.waiting) - set(result.requests_closed)
    gone = {e.service for e in result.ended}
    refreshed = offers.refresh(
        resident_id,
        decisions,
        {s.code: s for s in catalogue},
        on,
        not_open=(set(held) - gone) | still_waiting,
        existing=standing.offers,
    )
    result.offered = [o.service for o in refreshed.made]
    result.withdrawn = [o.service for o in refreshed.withdrawn]
    if result.changed:
        audit.record(
            "entitlements.reevaluated",
            resident_id=resident_id,
            actor_type=actor.type,
            actor_id=actor.id,
            channel=actor.channel,
            details={
                **({"staff_role": actor.staff_role} if actor.staff_role else {}),
                **result.as_dict(),
                "on": on.isoformat(),
            },
        )
        if notify:
            tell(resident, result, decisions, add_service.catalogue(), tell_offers=tell_offers)
    return result


def _close_request(request: ServiceRequest, decision: Decision, actor: Actor) -> None:
    request.status = REQUEST_REFUSED
    request.decided_at = utcnow()
    request.decision_reason = ("You no longer qualify: " + " ".join(decision.reasons))[:500]
    audit.record(
        "service.request_closed",
        resident_id=request.resident_id,
        actor_type="system",
        actor_id=None,
        channel=actor.channel,
        details={"service": request.service, "request": request.id, "rules": list(decision.failed)},
    )


def tell(
    resident: Resident,
    result: Result,
    decisions: dict[str, Decision],
    catalogue: Any,
    *,
    tell_offers: bool = True,
) -> None:
    """One notice per thing that changed, in the resident's channel."""
    for e in result.ended:
        service = catalogue.get(e.service)
        notices.send(
            resident,
            "entitlement-ended",
            service=service.name,
            ended_on=long_date(e.ends_on),
            why=why(e.tests),
            what_to_do=MOVED_ON if "lives-in-kent" in e.tests else "",
            card=service.on_card,
        )
    for e in result.ending:
        service = catalogue.get(e.service)
        notices.send(
            resident,
            "entitlement-ending",
            service=service.name,
            ends_on=long_date(e.ends_on),
            why=why(e.tests),
            what_to_do=(
                f"It carries on for {e.grace_days} days so that you can keep travelling while "
                "you apply to the council for your new address for a pass of theirs."
            ),
        )
    for e in result.shortened:
        service = catalogue.get(e.service)
        notices.send(
            resident,
            "entitlement-shortened",
            service=service.name,
            ends_on=long_date(e.ends_on),
            why="A fact it relies on, such as an award or an assessment, ends on that day.",
            what_to_do="If you have a newer award or assessment, show it to us and we will "
            "extend it.",
        )
    for code in result.requests_closed:
        notices.send(
            resident,
            "request-closed",
            service=catalogue.get(code).name,
            why=why(decisions[code].failed),
        )
    if result.offered and tell_offers:
        items = []
        for code in result.offered:
            needs = decisions[code].needs
            items.append(
                {
                    "name": catalogue.get(code).name,
                    "needs_evidence": bool(needs),
                    "proof": "; ".join(sorted({n.fact.value.replace("_", " ") for n in needs})),
                }
            )
        notices.send(resident, "services-offered", services=items)


# --- the hook: evaluate again before every commit that changed a fact -------------------------


_RESULTS = "kentcard.reevaluated"


def taken_result(resident_id: str) -> Result | None:
    """What the last commit's re-evaluation did for ``resident_id`` (once), so the page that
    made the change can say so: "Your bus pass will end on ..."."""
    results: dict[str, Result] = db_session().info.get(_RESULTS, {})
    return results.pop(resident_id, None)


def consequences(result: Result | None, *, for_staff: bool = False) -> list[str]:
    """Sentences for the page after a change, in plain words (to the resident, or to the
    member of staff who made the change for them)."""
    if result is None:
        return []
    catalogue = add_service.catalogue()
    if for_staff:
        told = [
            f"This resident's {catalogue.get(e.service).name} has ended: its rules "
            f"({', '.join(e.tests)}) are no longer met."
            for e in result.ended
        ]
        told += [
            f"This resident's {catalogue.get(e.service).name} will end on "
            f"{long_date(e.ends_on)} (the catalogue's {e.grace_days} days of grace)."
            for e in result.ending
        ]
        told += [
            f"Their request for {catalogue.get(code).name} was closed: no longer eligible."
            for code in result.requests_closed
        ]
        if told:
            told.append("They have been sent a notice (by email, or a letter to post).")
        return told
    said = [
        f"Your {catalogue.get(e.service).name} has ended: {why(e.tests)[0].lower()}"
        f"{why(e.tests)[1:]}"
        for e in result.ended
    ]
    said += [
        f"Your {catalogue.get(e.service).name} will end on {long_date(e.ends_on)}: "
        f"{why(e.tests)[0].lower()}{why(e.tests)[1:]}"
        for e in result.ending
    ]
    said += [
        f"We closed your request for {catalogue.get(code).name}: you no longer qualify."
        for code in result.requests_closed
    ]
    if said:
        said.append("We have sent you the details.")
    return said


def _before_commit(session: Session) -> None:
    if session.in_nested_transaction() or session is not db_session():
        return
    pending = facts.pending_changes()
    if not pending:
        return
    on = today()
    results: dict[str, Result] = session.info.setdefault(_RESULTS, {})
    for resident_id, change in pending.items():
        results[resident_id] = reevaluate(
            resident_id,
            on,
            Actor.of(change.by),
            change.references,
            tell_offers=not change.new_record,
            change=change,
        )
    session.flush()


_INSTALLED = False


def _after_soft_rollback(session: Session, previous: SessionTransaction) -> None:
    facts.forget_changes(session, outermost=previous.parent is None)


def install() -> None:
    """Evaluate again before each commit of the app's session, and forget what a rollback
    undid (called once by the app)."""
    global _INSTALLED
    if not _INSTALLED:
        event.listen(session_factory, "before_commit", _before_commit)
        event.listen(session_factory, "after_soft_rollback", _after_soft_rollback)
        _INSTALLED = True
