"""The choices a fact's answer is picked from, written once for every form that asks it:
the residents' add-a-service questions and the staff console's "Record a fact" forms.

Each returns ``value -> words`` for radios or a select; the words for disabilities and
awards are the statutory ones the eligibility rules use (``entitlements.conditions``).
"""

from __future__ import annotations

from collections.abc import Mapping

from entitlements.conditions import AWARD_WORDS, CATEGORY_WORDS
from entitlements.dates import academic_year_bounds
from entitlements.facts import DisabilityCategory, QualifyingAward

YES_NO = {"yes": "Yes", "no": "No"}
#: Reception to Year 13: the year groups of a school or sixth form.
YEAR_GROUPS = range(0, 14)


def capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def year_group_choices() -> dict[str, str]:
    return {str(y): "Reception" if y == 0 else f"Year {y}" for y in YEAR_GROUPS}


def academic_year_choices(years: list[int]) -> dict[str, str]:
    """School years that began in September of each of ``years``."""
    choices = {}
    for year in years:
        first, last = academic_year_bounds(year)
        choices[str(year)] = f"{first.year} to {last.year}"
    return choices


def disability_choices(evidence: Mapping[str, str] | None = None) -> dict[str, str]:
    """The seven disabilities of the Transport Act 2000 (s.146), a to g, in its words, with
    the evidence the catalogue accepts for each when given."""
    evidence = evidence or {}
    return {
        c.value: capital(CATEGORY_WORDS[c])
        + (f" (evidence: {evidence[c.value]})" if c.value in evidence else "")
        for c in DisabilityCategory
    }


def award_choices() -> dict[str, str]:
    return {a.value: capital(AWARD_WORDS[a]) for a in QualifyingAward}
