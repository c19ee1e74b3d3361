"""Facts typed as text (``NAME=VALUE``), for the command line and scripts.

Kept beside the facts model so every front end reads "school_year=9" the same way, and
every mistake gets a message that says what would have been accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime

from entitlements.dates import academic_year_start
from entitlements.facts import (
    Address,
    BlueBadgeDecision,
    Disability,
    DisabilityCategory,
    Fact,
    FactName,
    FactValue,
    Provenance,
    QualifyingAward,
    SchoolYear,
    Source,
    VerificationLevel,
)
from entitlements.gazetteer import Postcode, PostcodeError

_YES = {"yes", "y", "true"}
_NO = {"no", "n", "false"}
_SOURCE_FOR_LEVEL: Mapping[VerificationLevel, Source] = {
    VerificationLevel.DECLARED: Source.SELF_DECLARED,
    VerificationLevel.CHECKED: Source.STAFF_SEEN_DOCUMENT,
    VerificationLevel.VERIFIED: Source.GOVERNMENT_DEPARTMENT,
}
_CATEGORY_NAMES = {c.name.lower(): c for c in DisabilityCategory}

FORMATS: Mapping[FactName, str] = {
    FactName.DATE_OF_BIRTH: "a date, YYYY-MM-DD",
    FactName.ADDRESS: "a postcode, optionally followed by ;UPRN",
    FactName.LIVES_IN_KENT: "yes or no",
    FactName.WORKS_IN_KENT: "yes or no",
    FactName.STUDIES_IN_KENT: "yes or no",
    FactName.SCHOOL_YEAR: "a year group 0 (Reception) to 14, in the school year of the check",
    FactName.FULL_TIME_EDUCATION: "yes or no",
    FactName.DISABILITY: "a category a to g (or its name, like walking), optionally :evidence",
    FactName.BLUE_BADGE_DECISION: "approved:YYYY-MM-DD (when it ends) or refused",
    FactName.QUALIFYING_AWARD: "one of " + ", ".join(a.value for a in QualifyingAward),
    FactName.PARENTAL_CONSENT: "yes or no",
    FactName.NEEDS_COMPANION: "yes or no",
}


class FactSyntaxError(ValueError):
    """A typed fact that cannot be read; the message says what is accepted."""


def parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise FactSyntaxError(f"{text!r} is not a real date; use YYYY-MM-DD") from None


def _yes_no(text: str) -> bool:
    word = text.strip().lower()
    if word in _YES:
        return True
    if word in _NO:
        return False
    raise ValueError


def _value(name: FactName, text: str, on: date) -> FactValue:
    if name is FactName.DATE_OF_BIRTH:
        dob = parse_date(text)
        if dob > on or dob.year < 1900:
            raise FactSyntaxError("the date of birth must be after 1900 and not in the future")
        return dob
    if name is FactName.ADDRESS:
        postcode, _, uprn = text.partition(";")
        try:
            parsed = Postcode.parse(postcode)
        except PostcodeError as exc:
            raise FactSyntaxError(str(exc)) from None
        if uprn and not uprn.strip().isdigit():
            raise FactSyntaxError("a UPRN is up to 12 digits")
        return Address(str(parsed), uprn.strip() or None)
    if name is FactName.SCHOOL_YEAR:
        year = int(text)
        if not 0 <= year <= 14:
            raise ValueError
        return SchoolYear(year, academic_year_start(on))
    if name is FactName.DISABILITY:
        key, _, evidence = text.partition(":")
        key = key.strip().lower()
        category = _CATEGORY_NAMES.get(key) or DisabilityCategory(key)
        return Disability(category, evidence.strip() or "not yet recorded")
    if name is FactName.BLUE_BADGE_DECISION:
        verdict, _, ends = text.partition(":")
        if verdict.strip().lower() == "refused" and not ends:
            return BlueBadgeDecision(False, on)
        if verdict.strip().lower() == "approved":
            return BlueBadgeDecision(True, on, parse_date(ends) if ends else None)
        raise ValueError
    if name is FactName.QUALIFYING_AWARD:
        return QualifyingAward(text.strip().lower())
    return _yes_no(text)


def parse_fact(
    assignment: str,
    on: date,
    level: VerificationLevel = VerificationLevel.DECLARED,
    recorded_by: str = "cli",
) -> Fact:
    """``"school_year=9"`` -> a :class:`Fact` recorded now at ``level``."""
    name_text, equals, value_text = assignment.partition("=")
    if not equals:
        raise FactSyntaxError(f"{assignment!r} must be NAME=VALUE")
    try:
        name = FactName(name_text.strip().lower().replace("-", "_"))
    except ValueError:
        names = ", ".join(n.value for n in FactName)
        raise FactSyntaxError(f"unknown fact {name_text!r}; known facts: {names}") from None
    try:
        value = _value(name, value_text, on)
    except FactSyntaxError as exc:
        raise FactSyntaxError(f"{name.value}: {exc}") from None
    except ValueError:
        raise FactSyntaxError(f"{name.value} must be {FORMATS[name]}") from None
    provenance = Provenance(_SOURCE_FOR_LEVEL[level], level, recorded_by, datetime.now())
    return Fact(name, value, provenance)
