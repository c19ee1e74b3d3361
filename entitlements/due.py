"""Who becomes eligible by a date, judged from the resident record alone.

The resident record holds a date of birth and an address, so only services whose rules use
nothing else (residency, bus pass age, age limits) can be judged for an offer. Two halves:
:func:`birth_window` turns a service's age rules into a date-of-birth range a database can
filter on (so 1.6 million residents are never all decided in Python), and :func:`assess`
asks the engine about each resident inside it, so the report never disagrees with the
decision the resident would get.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from entitlements.catalogue import Catalogue, Service
from entitlements.dates import birthday
from entitlements.engine import decide
from entitlements.facts import (
    Address,
    Fact,
    FactName,
    FactSet,
    Provenance,
    Source,
    VerificationLevel,
)
from entitlements.gazetteer import Gazetteer
from entitlements.pension_age import concessionary_travel_date
from entitlements.results import Outcome

# Conditions the record can answer; "consent-if-under" counts because an adult needs no
# consent (a child's consent is not on the record, so children come out "not due").
RECORD_TESTS = frozenset(
    {
        "lives-in-kent",
        "lives-works-or-studies-in-kent",
        "reached-bus-pass-age",
        "age-at-least",
        "age-under",
        "consent-if-under",
    }
)
_OLDEST = 130  # years: no resident is older, so the searches start here


def judged_from_record(service: Service) -> bool:
    return all(condition.test in RECORD_TESTS for condition in service.conditions)


def record_services(catalogue: Catalogue) -> list[Service]:
    return [service for service in catalogue if judged_from_record(service)]


def _reaching_age(years: int) -> Callable[[date], date]:
    def reaches(date_of_birth: date) -> date:
        return birthday(date_of_birth, years)

    return reaches


def _starts(service: Service) -> list[Callable[[date], date]]:
    """For each age rule, the day a person born on a date first meets it."""
    starts: list[Callable[[date], date]] = []
    for condition in service.conditions:
        if condition.test == "reached-bus-pass-age":
            starts.append(concessionary_travel_date)
        elif condition.test in ("age-at-least", "consent-if-under"):
            starts.append(_reaching_age(int(condition.params["years"])))
    return starts


def thresholds(service: Service) -> list[Callable[[date], date]]:
    """For each age rule, the day a person born on a date crosses it: starts to meet it
    (bus pass age, "at least N", consent no longer needed) or stops ("under N"). The
    daily sweep decides again everyone who crossed one since it last ran."""
    crossings = _starts(service)
    for condition in service.conditions:
        if condition.test == "age-under":
            crossings.append(_reaching_age(int(condition.params["years"])))
    return crossings


def born_crossing(crosses: Callable[[date], date], after: date, on: date) -> tuple[date, date]:
    """Dates of birth (exclusive, inclusive) of everyone whose ``crosses`` day falls after
    ``after`` and on or before ``on``: born after the first and on or before the second."""
    return latest_born(crosses, after), latest_born(crosses, on)


def latest_born(reaches: Callable[[date], date], on: date) -> date:
    """The latest date of birth with ``reaches(dob) <= on`` (public name of the search)."""
    return _latest_born(reaches, on)


def _latest_born(reaches: Callable[[date], date], on: date) -> date:
    """The latest date of birth with ``reaches(dob) <= on`` (``reaches`` never decreases
    as the date of birth gets later: every timetable and birthday rule has that shape)."""
    low = birthday(on, -_OLDEST).toordinal()  # meets it (long past)
    high = on.toordinal() + 1  # born after ``on``: never meets it by ``on``
    while high - low > 1:
        middle = (low + high) // 2
        if reaches(date.fromordinal(middle)) <= on:
            low = middle
        else:
            high = middle
    return date.fromordinal(low)


def birth_window(service: Service, on: date) -> tuple[date | None, date]:
    """Dates of birth (earliest or None, latest; inclusive) of everyone who can meet the
    service's age rules on ``on``: a necessary condition, the engine decides the rest."""
    latest = on
    for reaches in _starts(service):
        latest = min(latest, _latest_born(reaches, on))
    earliest: date | None = None
    for condition in service.conditions:
        if condition.test == "age-under":
            # under N on ``on`` means the Nth birthday is after ``on``
            ends = _latest_born(_reaching_age(int(condition.params["years"])), on)
            bound = ends + timedelta(days=1)
            earliest = bound if earliest is None else max(earliest, bound)
    return earliest, latest


def eligible_from(service: Service, date_of_birth: date) -> date:
    """The day the age rules are first met (the date of birth when there are none)."""
    return max((reaches(date_of_birth) for reaches in _starts(service)), default=date_of_birth)


@dataclass(frozen=True)
class DueResident:
    resident: str  # the pseudonymous resident id, as in the ledger
    service: str
    eligible_from: date
    evidence_needed: tuple[str, ...]  # facts to see proof of before granting

    def as_dict(self) -> dict[str, object]:
        return {
            "resident": self.resident,
            "service": self.service,
            "eligible_from": self.eligible_from.isoformat(),
            "evidence_needed": list(self.evidence_needed),
        }


def record_facts(
    date_of_birth: date,
    postcode: str,
    uprn: str | None,
    recorded_at: datetime,
    level: VerificationLevel = VerificationLevel.DECLARED,
    source: Source = Source.SELF_DECLARED,
    recorded_by: str = "resident-record",
) -> FactSet:
    """The facts a resident record gives: date of birth and address, at ``level``."""
    provenance = Provenance(source, level, recorded_by, recorded_at)
    return FactSet.of(
        [
            Fact(FactName.DATE_OF_BIRTH, date_of_birth, provenance),
            Fact(FactName.ADDRESS, Address(postcode, uprn), provenance),
        ]
    )


def assess(
    service: Service, resident: str, facts: FactSet, on: date, gazetteer: Gazetteer
) -> DueResident | None:
    """Due when the rules are met on ``on``; only stronger evidence may still be wanted."""
    decision = decide(service, facts, on, gazetteer)
    if decision.outcome is Outcome.NOT_ELIGIBLE:
        return None
    if decision.outcome is Outcome.NEEDS_FACTS and not all(
        need.more_evidence for need in decision.needs
    ):
        return None
    dob = facts.get(FactName.DATE_OF_BIRTH, on)
    assert dob is not None and isinstance(dob.value, date)
    needed = tuple(sorted(need.fact.value for need in decision.needs))
    return DueResident(resident, service.code, eligible_from(service, dob.value), needed)
