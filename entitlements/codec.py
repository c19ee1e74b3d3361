"""Fact values as JSON and back, for storage: one shape per fact name, checked on read.

Storage (``idservice``'s ``resident_facts``) keeps the value as JSON so one table holds
every kind of fact; this module is the only place that knows the shapes, so a row written
by one version is read the same way by the next.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from entitlements.facts import (
    VALUE_TYPES,
    Address,
    BlueBadgeDecision,
    Disability,
    DisabilityCategory,
    FactName,
    FactValue,
    QualifyingAward,
    SchoolYear,
)


class CodecError(ValueError):
    """A stored value that does not have the shape its fact name needs."""


def to_json(name: FactName, value: FactValue) -> dict[str, Any]:
    """``{"v": ...}``: a wrapper so that a bare true/false or number is valid JSON too."""
    expected = VALUE_TYPES[name]
    if not isinstance(value, expected) or (isinstance(value, bool) and expected is not bool):
        raise CodecError(f"{name.value} must be {expected}, not {type(value).__name__}")
    if isinstance(value, date):
        return {"v": value.isoformat()}
    if isinstance(value, Address):
        return {"v": {"postcode": value.postcode, "uprn": value.uprn}}
    if isinstance(value, SchoolYear):
        return {"v": {"year_group": value.year_group, "academic_year": value.academic_year}}
    if isinstance(value, Disability):
        return {"v": {"category": value.category.value, "evidence": value.evidence}}
    if isinstance(value, BlueBadgeDecision):
        return {
            "v": {
                "approved": value.approved,
                "decided_on": value.decided_on.isoformat(),
                "expires_on": value.expires_on.isoformat() if value.expires_on else None,
            }
        }
    if isinstance(value, QualifyingAward):
        return {"v": value.value}
    return {"v": value}


def from_json(name: FactName, data: Any) -> FactValue:
    try:
        raw = data["v"]
        value = _decode(name, raw)
    except (KeyError, TypeError, ValueError) as exc:
        raise CodecError(f"stored {name.value} is not readable: {exc}") from None
    expected = VALUE_TYPES[name]
    if not isinstance(value, expected) or (isinstance(value, bool) and expected is not bool):
        raise CodecError(f"stored {name.value} has the wrong type")
    return value


def _decode(name: FactName, raw: Any) -> FactValue:
    if name is FactName.DATE_OF_BIRTH:
        return date.fromisoformat(raw)
    if name is FactName.ADDRESS:
        return Address(str(raw["postcode"]), raw.get("uprn"))
    if name is FactName.SCHOOL_YEAR:
        return SchoolYear(int(raw["year_group"]), int(raw["academic_year"]))
    if name is FactName.DISABILITY:
        return Disability(DisabilityCategory(raw["category"]), str(raw["evidence"]))
    if name is FactName.BLUE_BADGE_DECISION:
        ends = raw.get("expires_on")
        return BlueBadgeDecision(
            bool(raw["approved"]),
            date.fromisoformat(raw["decided_on"]),
            date.fromisoformat(ends) if ends else None,
        )
    if name is FactName.QUALIFYING_AWARD:
        return QualifyingAward(raw)
    if not isinstance(raw, bool):
        raise ValueError("expected true or false")
    return raw
