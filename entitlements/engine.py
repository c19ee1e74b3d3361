"""The eligibility engine: (facts, service, date) -> a decision that explains itself.

Pure functions with no storage, so the web journey, staff, scripts and the command line
get the same answer. Every condition of a service is evaluated (not just the first that
fails) so the resident hears every reason at once.
"""

from __future__ import annotations

from datetime import date

from entitlements.catalogue import Catalogue, Service
from entitlements.conditions import CONDITIONS, Context
from entitlements.dates import long_date
from entitlements.facts import FACT_DESCRIPTIONS, FactSet
from entitlements.gazetteer import Gazetteer, built_in_gazetteer
from entitlements.results import Check, Decision, Need, Outcome


def _evidence_needs(service: Service, checks: list[Check]) -> tuple[Need, ...]:
    """Facts the rules relied on that were checked less well than the service needs."""
    needs: dict[str, Need] = {}
    for check in checks:
        for fact in check.used:
            if fact.provenance.level < service.evidence:
                needs[fact.name.value] = Need(
                    fact.name,
                    f"We need to see proof of {FACT_DESCRIPTIONS[fact.name]} (what we hold "
                    f"is {fact.provenance.source.value}; this service needs it "
                    f"{service.evidence.label}).",
                    more_evidence=True,
                )
    return tuple(needs.values())


def _fact_expiry(checks: list[Check]) -> date | None:
    ends = [f.provenance.expires_on for c in checks for f in c.used if f.provenance.expires_on]
    return min(ends, default=None)


def _earliest(*dates: date | None) -> date | None:
    present = [d for d in dates if d is not None]
    return min(present, default=None)


def decide(
    service: Service, facts: FactSet, on: date, gazetteer: Gazetteer | None = None
) -> Decision:
    """Whether the resident with ``facts`` is eligible for ``service`` on ``on``."""
    ctx = Context(facts, on, gazetteer or built_in_gazetteer(), service.hide_date_of_birth)
    checks = [CONDITIONS[c.test].evaluate(ctx, c.params) for c in service.conditions]
    reasons = tuple(c.reason for c in checks if c.reason)
    missing = tuple(need for c in checks for need in c.needs)
    failed = [c for c in checks if c.passed is False]
    untils = [c.until for c in checks if c.passed and c.until]

    if failed:
        eligible_from: date | None = None
        if not missing and all(c.from_date for c in failed):
            start = max(c.from_date for c in failed if c.from_date)
            # Conditions that pass now must still hold then (a school year can end first).
            if all(u >= start for u in untils):
                eligible_from = start
        tests = tuple(
            cond.test
            for cond, check in zip(service.conditions, checks, strict=True)
            if check.passed is False
        )
        read = {f.provenance.reference for c in failed for f in c.used if f.provenance.reference}
        return Decision(
            service.code,
            on,
            Outcome.NOT_ELIGIBLE,
            reasons,
            missing,
            valid_from=eligible_from,
            evidence=tuple(sorted(read)),
            failed=tests,
        )
    if missing:
        return Decision(service.code, on, Outcome.NEEDS_FACTS, reasons, missing)

    evidence = _evidence_needs(service, checks)
    if evidence:
        note = "You meet the rules on what you have told us; we need to see evidence first."
        return Decision(service.code, on, Outcome.NEEDS_FACTS, (*reasons, note), evidence)
    until = _earliest(service.lasts.end(on), *untils, _fact_expiry(checks))
    if until:
        ends = f"until {long_date(until)}"
    elif service.lasts.card:
        ends = "until your Kent Card expires"
    elif service.renewal is not None and service.renewal.every_years:
        ends = (
            "with no end date (we will ask you to confirm your details every "
            f"{service.renewal.every_years} years)"
        )
    else:
        ends = "with no end date"
    used = {f.provenance.reference for c in checks for f in c.used if f.provenance.reference}
    return Decision(
        service.code,
        on,
        Outcome.ELIGIBLE,
        (*reasons, f"You can have it from {long_date(on)}, {ends}."),
        valid_from=on,
        valid_until=until,
        evidence=tuple(sorted(used)),
    )


def decide_all(
    catalogue: Catalogue, facts: FactSet, on: date, gazetteer: Gazetteer | None = None
) -> list[Decision]:
    """Every service at once, as an account page "what can I get?" would show."""
    places = gazetteer or built_in_gazetteer()
    return [decide(service, facts, on, places) for service in catalogue]
