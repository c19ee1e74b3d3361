"""The add-a-service journey as pure rules: what to ask, and where an application goes.

The web pages (the resident's own and the staff console's) ask one question per page for
each fact the engine says is missing and a resident can answer themselves, then route the
application: granted at once, waiting for staff to check evidence, or not eligible. Facts
only staff can establish (proof of address, a council assessment) are never asked: the
application waits for them instead.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Iterable, Mapping
from datetime import date, timedelta

import holidays

from entitlements.catalogue import Service
from entitlements.facts import FactName
from entitlements.results import Decision, Outcome

#: Facts a resident can tell us on a question page (recorded as self-declared).
ASKABLE: tuple[FactName, ...] = (
    FactName.WORKS_IN_KENT,
    FactName.STUDIES_IN_KENT,
    FactName.PARENTAL_CONSENT,
    FactName.SCHOOL_YEAR,
    FactName.FULL_TIME_EDUCATION,
    FactName.DISABILITY,
    FactName.NEEDS_COMPANION,
    FactName.QUALIFYING_AWARD,
)

#: What we accept as proof of each fact, in words a resident understands.
EVIDENCE_ACCEPTED: Mapping[FactName, str] = {
    FactName.DATE_OF_BIRTH: "a passport, photocard driving licence or birth certificate",
    FactName.ADDRESS: (
        "a Council Tax bill, a utility bill or a bank statement from the last 3 months "
        "showing your name and address"
    ),
    FactName.LIVES_IN_KENT: (
        "a Council Tax bill, a utility bill or a bank statement from the last 3 months "
        "showing your name and address"
    ),
    FactName.WORKS_IN_KENT: "a letter from your employer or a recent payslip",
    FactName.STUDIES_IN_KENT: "a letter from your school, college or university",
    FactName.SCHOOL_YEAR: "a letter from your school",
    FactName.FULL_TIME_EDUCATION: "a letter from your school, college or training provider",
    FactName.DISABILITY: "the evidence listed for your disability",
    FactName.BLUE_BADGE_DECISION: "the council's Blue Badge assessment (we arrange it)",
    FactName.QUALIFYING_AWARD: "your award letter from the Department for Work and Pensions",
    FactName.PARENTAL_CONSENT: "a parent or guardian coming with you, or a signed form",
    FactName.NEEDS_COMPANION: "an assessment arranged by the council",
}


class Route(enum.Enum):
    ASK = "ask"  # a question the resident can answer is still open
    GRANT = "grant"  # eligible on evidence good enough for the service
    REQUEST = "request"  # staff must check evidence (or assess) before deciding
    NOT_ELIGIBLE = "not eligible"


def questions(decision: Decision) -> list[FactName]:
    """Missing facts the resident can answer, in the order the pages ask them."""
    missing = {need.fact for need in decision.needs if not need.more_evidence}
    return [name for name in ASKABLE if name in missing]


def next_question(decision: Decision, answered: Iterable[FactName]) -> FactName | None:
    """The first question not answered yet ("none of these" counts as an answer)."""
    done = set(answered)
    return next((name for name in questions(decision) if name not in done), None)


def route(decision: Decision, answered: Iterable[FactName] = ()) -> Route:
    if decision.outcome is Outcome.ELIGIBLE:
        return Route.GRANT
    if decision.outcome is Outcome.NOT_ELIGIBLE:
        return Route.NOT_ELIGIBLE
    if next_question(decision, answered) is not None:
        return Route.ASK
    return Route.REQUEST


#: Bank holidays follow the calendar of England (the same days as Wales), from the
#: ``holidays`` package: the UK Government's announced dates, including substitute days
#: (a Christmas Day on a Saturday gives the Monday off) and one-off holidays.
BANK_HOLIDAY_COUNTRY, BANK_HOLIDAY_SUBDIVISION = "GB", "ENG"


@functools.cache
def _bank_holidays(year: int) -> frozenset[date]:
    calendar = holidays.country_holidays(
        BANK_HOLIDAY_COUNTRY, subdiv=BANK_HOLIDAY_SUBDIVISION, years=year
    )
    return frozenset(calendar)


def is_working_day(day: date) -> bool:
    """Monday to Friday and not an English bank holiday."""
    return day.weekday() < 5 and day not in _bank_holidays(day.year)


def add_working_days(start: date, days: int) -> date:
    """``days`` working days after ``start``: weekends and English bank holidays skipped."""
    day = start
    left = days
    while left > 0:
        day += timedelta(days=1)
        if is_working_day(day):
            left -= 1
    return day


def expected_decision(service: Service, on: date) -> date:
    """When a request made on ``on`` will be decided, from the catalogue's working days."""
    return add_working_days(on, service.decision_days)


#: The facts each catalogue check may read, so a page can show which ones it reused.
READS: Mapping[str, tuple[FactName, ...]] = {
    "lives-in-kent": (FactName.ADDRESS, FactName.LIVES_IN_KENT),
    "lives-works-or-studies-in-kent": (
        FactName.ADDRESS,
        FactName.LIVES_IN_KENT,
        FactName.WORKS_IN_KENT,
        FactName.STUDIES_IN_KENT,
    ),
    "reached-bus-pass-age": (FactName.DATE_OF_BIRTH,),
    "age-at-least": (FactName.DATE_OF_BIRTH,),
    "age-under": (FactName.DATE_OF_BIRTH,),
    "consent-if-under": (FactName.DATE_OF_BIRTH, FactName.PARENTAL_CONSENT),
    "school-year-between": (FactName.SCHOOL_YEAR, FactName.DATE_OF_BIRTH),
    "age-on-31-august-between": (FactName.DATE_OF_BIRTH,),
    "in-full-time-education": (FactName.FULL_TIME_EDUCATION,),
    "statutory-disability": (FactName.DISABILITY,),
    "needs-companion": (FactName.NEEDS_COMPANION,),
    "blue-badge": (FactName.BLUE_BADGE_DECISION, FactName.QUALIFYING_AWARD),
}


def facts_read(service: Service) -> list[FactName]:
    """Every fact the service's rules may read, in the order the rules list them."""
    names = [name for c in service.conditions for name in READS[c.test]]
    return list(dict.fromkeys(names))
