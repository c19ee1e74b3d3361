"""The property of issue 11: for random fact histories, the entitlements held after
replaying the history equal what the engine says for the final facts on the final date.

A history (:mod:`tests.services.fact_history`) is replayed through the real services
(:mod:`tests.services.replay_history`) on this test's database, each step decided as on
its own day, with the daily sweep run for every day a step falls on and for the final day.
After every step (and so after the last sweep, on the final date) the following must hold,
``E(s)`` being the engine's decision for service ``s`` on the facts then held, that day:

1. **Held means the engine agrees.** For every service in force in the ledger's projection
   (status ``active``, ``valid_from <= day <= valid_until``; no ``active`` state may have a
   ``valid_until`` before the day: the sweep expired it), exactly one of:

   a. ``E(s)`` is ELIGIBLE, and the grant ends no later than the engine's end
      (``valid_until <= E(s).valid_until`` whenever the engine names an end);
   b. ``E(s)`` is NOT_ELIGIBLE, every rule that fails has a grace period in the catalogue
      that applies (the bus passes' 90 days when the address held is in England), and the
      grant ends at the latest that many days after the first day of the current run of
      such answers (the day we learnt of the move);
   c. ``E(s)`` is NEEDS_FACTS because of facts alone, each need being one of: evidence
      weaker than the service needs (``more_evidence``), a fact not held that day (ended
      by a registrar's move, or never recorded), or an address the gazetteer cannot place
      (a district that straddles Kent's boundary, or one left out of the table). Only a
      rule that fails ends a service; these are looked at again at renewal.

   Nothing looser: a held service whose rules fail without a grace period, one kept past
   its grace, one whose facts end before it does, or a NEEDS_FACTS for any other reason
   fails the test.

2. **Every change on the ledger is explained by the engine on its day.** Each event a step
   appended names its cause, and the cause holds: a ``grant`` only from an application or
   an approval, when ``E(s)`` is ELIGIBLE, from that day to the engine's end (or the day
   details are due); a ``renew`` "ending" only when (1b) applies, to exactly the day plus
   the grace; a ``renew`` "ends sooner" only when ``E(s)`` is ELIGIBLE and ends sooner
   than the grant did, to exactly that day; a ``revoke`` "not eligible: R" only when
   ``E(s)`` is NOT_ELIGIBLE with failing rules R and no grace applies; a ``revoke`` "moved
   out of Kent" only from a registrar's move, for a service with the residency rule; an
   ``expire`` or ``suspend`` only from the sweep, for a grant whose last day had passed.
   So a service granted at some point and not held at the end was ended by the engine
   saying "not eligible" after the grant, by its end date passing, or by a life event.

3. **Waiting requests follow the facts.** After every step and sweep, no request is still
   waiting for a service ``E(s)`` says NOT_ELIGIBLE for: the re-evaluation closes it when
   a fact changes, the sweep when an age rule is crossed or a school year begins.

4. **The ledger is sound.** At the end it verifies, and rebuilding the projection from
   the events gives the state the appends left (the same as a fold over every event).
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from sqlalchemy import select

from entitlements.catalogue import GRACE_PLACES, Service
from entitlements.facts import DisabilityCategory, FactName, FactSet
from entitlements.gazetteer import Postcode, PostcodeError, Residency, built_in_gazetteer
from entitlements.ledger import store
from entitlements.ledger.events import EventKind, LedgerEvent
from entitlements.ledger.projection import fold
from entitlements.ledger.verify import verify
from entitlements.results import Decision, Outcome
from tests.conftest import empty_database
from tests.services.fact_history import (
    CATALOGUE,
    Apply,
    Approve,
    CorrectBirth,
    Document,
    GatewayVisit,
    History,
    Move,
    MoveOut,
    Step,
    histories,
)
from tests.services.replay_history import After, Replay, replay

SERVICES = {s.code: s for s in CATALOGUE}
HELD = ("active", "suspended")


def _address_place(held: FactSet, on: date) -> tuple[Residency | None, frozenset[str]]:
    fact = held.get(FactName.ADDRESS, on)
    if fact is None:
        return None, frozenset()
    try:
        lookup = built_in_gazetteer().lookup(Postcode.parse(fact.value.postcode))  # type: ignore[union-attr]
    except PostcodeError:
        return Residency.UNKNOWN, frozenset()
    return lookup.residency, frozenset(lookup.authorities)


def grace_days(service: Service, decision: Decision, held: FactSet, on: date) -> int | None:
    """The catalogue's grace when every failing rule has one that applies, else None."""
    if decision.outcome is not Outcome.NOT_ELIGIBLE or not decision.failed:
        return None
    days = []
    for test in decision.failed:
        grace = service.grace_for(test)
        if grace is None:
            return None
        if grace.moved_within is not None:
            _, authorities = _address_place(held, on)
            prefix = GRACE_PLACES[grace.moved_within]
            if not authorities or not all(a.startswith(prefix) for a in authorities):
                return None
        days.append(grace.days)
    return min(days)


def _for_want_of_facts(decision: Decision, held: FactSet, on: date) -> list[str]:
    """The needs of a NEEDS_FACTS decision that are not merely about facts (1c)."""
    wrong = []
    for need in decision.needs:
        if need.more_evidence or held.get(need.fact, on) is None:
            continue
        residency, _ = _address_place(held, on)
        if need.fact is FactName.ADDRESS and residency in (
            Residency.NEEDS_EVIDENCE,
            Residency.UNKNOWN,
        ):
            continue
        wrong.append(f"{need.fact.value}: {need.why}")
    return wrong


def _grant_ends(service: Service, decision: Decision) -> date | None:
    """The end a grant gets: the engine's, or for a "confirm-details" service the day
    details are due (no Kent Card in these histories, so no card expiry)."""
    ends = [decision.valid_until]
    if not service.lasts.card and decision.valid_from is not None:
        ends.append(service.details_due(decision.valid_from))
    return min((d for d in ends if d is not None), default=None)


class Checker:
    """Judges each step's :class:`After` in order (it remembers grace runs)."""

    def __init__(self) -> None:
        self.grace_since: dict[str, date] = {}

    def held_problems(self, after: After) -> list[str]:
        on, problems = after.on, []
        for code, decision in after.decisions.items():
            service = SERVICES[code]
            if grace_days(service, decision, after.facts, on) is None:
                self.grace_since.pop(code, None)
            else:
                self.grace_since.setdefault(code, on)
        for code, state in sorted(after.states.items()):
            if state.status != "active":
                continue
            service, decision = SERVICES[code], after.decisions[code]
            ends = state.valid_until
            if ends is not None and ends < on:
                problems.append(f"{code}: still active after its last day {ends}")
                continue
            if state.valid_from is not None and state.valid_from > on:
                continue  # not yet in force (none in these histories)
            if decision.outcome is Outcome.ELIGIBLE:
                if decision.valid_until is not None and (
                    ends is None or ends > decision.valid_until
                ):
                    problems.append(
                        f"{code}: held until {ends} but the facts end it on {decision.valid_until}"
                    )
            elif decision.outcome is Outcome.NOT_ELIGIBLE:
                grace = grace_days(service, decision, after.facts, on)
                if grace is None:
                    problems.append(f"{code}: held but not eligible ({', '.join(decision.failed)})")
                elif ends is None or ends > self.grace_since[code] + timedelta(days=grace):
                    problems.append(
                        f"{code}: held until {ends}, past its grace of {grace} days from "
                        f"{self.grace_since[code]}"
                    )
            else:
                wrong = _for_want_of_facts(decision, after.facts, on)
                if wrong:
                    problems.append(f"{code}: held but the engine needs {wrong}")
        return problems

    def unexplained(self, after: After) -> list[str]:
        problems = []
        for appended in after.events:
            why = self._why_not(after, appended)
            if why:
                problems.append(
                    f"{appended.kind.value} {appended.service} ({appended.reason}): {why}"
                )
        return problems

    def _why_not(self, after: After, event: LedgerEvent) -> str | None:
        """Why ``event`` is not explained by the step and the engine (None: it is)."""
        on, action, kind = after.on, after.action, event.kind
        if kind is EventKind.LIFE_EVENT:
            registrar = isinstance(action, MoveOut) or (
                isinstance(action, Move) and action.by == "registrar"
            )
            return None if registrar else "a life event from a step that is not a registrar's"
        if event.service not in SERVICES:
            return "not a catalogue service"
        service = SERVICES[event.service]
        decision = after.decisions[event.service]
        before = after.before.get(event.service)
        was_held = before is not None and before.status in HELD
        grace = grace_days(service, decision, after.facts, on)
        if kind is EventKind.GRANT:
            if not isinstance(action, Apply | GatewayVisit | Approve) or was_held:
                return "granted by a step that grants nothing, or granted twice"
            if decision.outcome is not Outcome.ELIGIBLE:
                return f"granted but the engine says {decision.outcome.value}"
            if (event.valid_from, event.valid_until) != (on, _grant_ends(service, decision)):
                return f"dates {event.valid_from}..{event.valid_until} (engine: {decision})"
            return None
        if not was_held:
            return "changes a service that was not held"
        assert before is not None
        if kind is EventKind.RENEW and event.reason.startswith("ending: not eligible"):
            if grace is None:
                return f"a grace period that does not apply ({decision.outcome.value})"
            if event.valid_until != on + timedelta(days=grace):
                return f"ends {event.valid_until}, not {grace} days after {on}"
            if before.valid_until is not None and before.valid_until <= event.valid_until:
                return "lengthened by a grace period"
            return None
        if kind is EventKind.RENEW and event.reason.startswith("ends sooner"):
            if decision.outcome is not Outcome.ELIGIBLE or decision.valid_until is None:
                return f"cut short but the engine says {decision.outcome.value}"
            if event.valid_until != decision.valid_until:
                return f"cut to {event.valid_until}, the engine's end is {decision.valid_until}"
            if before.valid_until is not None and before.valid_until <= decision.valid_until:
                return "cut short to a later day"
            return None
        if kind is EventKind.REVOKE and event.reason == "moved out of Kent":
            residency = any(c.test == "lives-in-kent" for c in service.conditions)
            return None if isinstance(action, MoveOut) and residency else "not a move out"
        if kind is EventKind.REVOKE and event.reason.startswith("not eligible: "):
            if decision.outcome is not Outcome.NOT_ELIGIBLE:
                return f"ended but the engine says {decision.outcome.value}"
            if event.reason != "not eligible: " + ", ".join(decision.failed):
                return f"names rules other than the failing {decision.failed}"
            if grace is not None:
                return f"ended at once though a grace of {grace} days applies"
            return None
        if kind in (EventKind.EXPIRE, EventKind.SUSPEND):
            pauses = service.renewal is not None and service.renewal.confirms_details
            if action != "sweep" or pauses != (kind is EventKind.SUSPEND):
                return "not the sweep's, or the wrong kind for the service"
            if before.valid_until is None or before.valid_until >= on:
                return f"its last day {before.valid_until} had not passed on {on}"
            return None
        return "an event nothing in this history should cause"

    @staticmethod
    def request_problems(after: After) -> list[str]:
        return [
            f"request for {code} still waiting though not eligible: {after.decisions[code].failed}"
            for code in sorted(after.waiting)
            if after.decisions[code].outcome is Outcome.NOT_ELIGIBLE
        ]


def _describe(after: After) -> str:
    held = {
        code: f"{s.status} {s.valid_from}..{s.valid_until}"
        for code, s in sorted(after.states.items())
    }
    engine = {code: d.outcome.value for code, d in sorted(after.decisions.items())}
    events = [f"{e.kind.value} {e.service}: {e.reason} ({e.valid_until})" for e in after.events]
    facts = {f.name.value: f"{f.value} L{int(f.provenance.level)}" for f in after.facts}
    return (
        f"{after.label}\n  refused: {after.refused}\n  events: {events}\n  held: {held}\n"
        f"  facts: {facts}\n  engine: {engine}\n  waiting: {sorted(after.waiting)}"
    )


def _ledger_problems(app: Flask) -> list[str]:
    engine = app.extensions["kentcard_engine"]
    problems = []
    report = verify(engine, {})
    if not report.ok:
        problems.append(f"the ledger does not verify: {report.problem}")
    with engine.connect() as conn:
        bodies = conn.execute(select(store.EVENTS.c.body).order_by(store.EVENTS.c.seq))
        folded = fold(LedgerEvent.from_body(r.body.encode()) for r in bodies)
    incremental = {(s.resident, s.service): s for s in store.states(engine)}
    if folded != incremental:
        problems.append(f"the projection differs from a fold: {incremental} != {folded}")
    store.rebuild(engine)
    rebuilt = {(s.resident, s.service): s for s in store.states(engine)}
    if rebuilt != incremental:
        problems.append(f"the rebuilt projection differs: {incremental} != {rebuilt}")
    return problems


def check_history(app: Flask, history: History) -> Replay:
    """Replay ``history`` on an empty database and assert the property (module docstring);
    a failure shows every step: what it did, what was held, what the engine said."""
    empty_database(app)
    replayed = replay(app, history)
    checker = Checker()
    problems: list[str] = []
    for after in replayed.afters:
        found = [
            *checker.held_problems(after),
            *checker.unexplained(after),
            *checker.request_problems(after),
        ]
        problems += [f"{after.label}: {p}" for p in found]
    problems += _ledger_problems(app)
    story = "\n".join(_describe(after) for after in replayed.afters)
    assert not problems, "\n".join(problems) + "\n\nThe history, step by step:\n" + story
    return replayed


def _ledger_kinds(replayed: Replay) -> set[tuple[str, str, str]]:
    """(kind, service, first word of the reason) of every event the history appended."""
    return {
        (e.kind.value, e.service, e.reason.split(":")[0].split()[0])
        for after in replayed.afters
        for e in after.events
    }


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,  # each example empties the database itself
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(history=histories())
def test_the_entitlements_held_after_any_history_are_what_the_engine_says(
    app: Flask, history: History
) -> None:
    check_history(app, history)


# --- stories: histories written out, so every run takes the paths that matter ---------------

_OLDER = 70 * 365 + 100  # days: past State Pension age
_VISIT_FOR_BUS_PASS = GatewayVisit((), Apply("bus-pass-older", by_staff=True))

STORIES: dict[str, tuple[History, set[tuple[str, str, str]]]] = {
    "a move within England: the bus pass runs on for its grace, then the sweep ends it": (
        History(
            _OLDER,
            "ME14 1XQ",
            True,
            (Step(0, _VISIT_FOR_BUS_PASS), Step(30, Move("SE1 7PB", "resident"))),
            final_days=120,
            days_before_today=5,
        ),
        {("renew", "bus-pass-older", "ending"), ("expire", "bus-pass-older", "expired")},
    ),
    "home again within the grace, then a move to Scotland ends the pass at once": (
        History(
            _OLDER,
            "CT9 1AA",
            False,
            (
                Step(0, _VISIT_FOR_BUS_PASS),
                Step(10, Move("ME4 4AA", "resident")),
                Step(20, Move("TN23 1AA", "staff")),
                Step(20, Move("EH1 1YZ", "registrar")),
            ),
            final_days=10,
            days_before_today=3,
        ),
        {("renew", "bus-pass-older", "ending"), ("revoke", "bus-pass-older", "not")},
    ),
    "a disability award that ends sooner cuts the pass short, and the sweep ends it": (
        History(
            40 * 365,
            "TN23 1AA",
            True,
            (
                Step(
                    0,
                    GatewayVisit(
                        (Document("disability", DisabilityCategory.WALKING, 400),),
                        Apply("bus-pass-disabled", by_staff=False),
                    ),
                ),
                Step(10, Document("disability", DisabilityCategory.WALKING, 100)),
            ),
            final_days=200,
            days_before_today=0,
        ),
        {
            ("grant", "bus-pass-disabled", "eligible"),
            ("renew", "bus-pass-disabled", "ends"),
            ("expire", "bus-pass-disabled", "expired"),
        },
    ),
    "a registrar's move out ends the pass; only new proof of address grants it again": (
        History(
            _OLDER,
            "ME14 1XQ",
            False,
            (
                Step(0, _VISIT_FOR_BUS_PASS),
                Step(5, MoveOut()),
                Step(5, Apply("bus-pass-older", by_staff=True)),
                Step(0, Approve()),
                Step(5, Document("council-tax-bill")),
                Step(0, Approve()),
            ),
            final_days=30,
            days_before_today=1,
        ),
        {
            ("revoke", "bus-pass-older", "moved"),
            ("grant", "bus-pass-older", "approved"),
        },
    ),
    "a corrected date of birth ends what the old one gave": (
        History(
            _OLDER,
            "DA11 0AA",
            True,
            (
                Step(0, GatewayVisit((), Apply("proof-of-age-18", by_staff=True))),
                Step(0, Apply("partner-leisure-60-plus", by_staff=False)),
                Step(40, CorrectBirth(16 * 365)),
            ),
            final_days=0,
            days_before_today=20,
        ),
        {
            ("revoke", "proof-of-age-18", "not"),
            ("revoke", "partner-leisure-60-plus", "not"),
        },
    ),
}


@pytest.mark.parametrize("name", sorted(STORIES))
def test_each_story_keeps_the_property_on_the_path_it_tells(app: Flask, name: str) -> None:
    history, path = STORIES[name]
    replayed = check_history(app, history)
    assert path <= _ledger_kinds(replayed), _ledger_kinds(replayed)
