""" "Record a fact from a document": one form per fact, never a value in a machine format.

Each :class:`FactPage` says which questions its fact needs (a date input for a date of
birth, the record's address to confirm, yes or no, a year group, the seven statutory
disabilities, the qualifying awards, a Blue Badge decision) and how the answers make the
fact's value. Every page then asks which document or check was seen (only those that
prove the fact, from :func:`idservice.services.evidence_types.evidence_for`), its
reference, and an end date where a fact can stop applying. The choices are the ones the
residents' own questions use (:mod:`idservice.web.fact_answers`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from entitlements.dates import academic_year_start, long_date
from entitlements.facts import (
    Address,
    BlueBadgeDecision,
    Disability,
    DisabilityCategory,
    FactName,
    FactValue,
    QualifyingAward,
    SchoolYear,
)
from idservice import validation
from idservice.models.residents import Resident
from idservice.services import add_service, facts
from idservice.services.evidence_types import EVIDENCE_TYPES, evidence_for
from idservice.services.residents import NotFound
from idservice.staff.evidence_forms import REFERENCE_FIELD
from idservice.web.fact_answers import (
    YES_NO,
    academic_year_choices,
    award_choices,
    disability_choices,
    year_group_choices,
)
from idservice.web.forms import Field, Form
from idservice.web.service_journey import disability_evidence

Data = Mapping[str, Any]


@dataclass(frozen=True)
class FactPage:
    """The questions for one fact and how their answers make its value."""

    name: FactName
    title: str
    fields: Callable[[date], tuple[Field, ...]]
    #: The value from the cleaned answers, the resident record and the document's label.
    value: Callable[[Data, Resident, str], FactValue]
    #: Whether the page asks when the fact stops applying.
    expiry: bool = False
    #: Checks across the fact's own fields (call ``form.add_error``).
    validate: Callable[[Form], None] | None = None
    #: The name of the field errors about the value as a whole are shown next to.
    main: str = "value"


def _yes_no(
    name: FactName, title: str, question: str, required: str, expiry: bool = True
) -> FactPage:
    return FactPage(
        name,
        title,
        lambda on: (
            Field("value", question, kind="radios", choices=YES_NO, required_message=required),
        ),
        lambda data, resident, seen: data["value"] == "yes",
        expiry=expiry,
    )


def _must_confirm_address(ticked: bool) -> bool:
    if not ticked:
        raise validation.ValidationError(
            "Confirm the document shows the address on the record. If it shows a different "
            "address, change the record's address first"
        )
    return ticked


def _check_uprn(value: str) -> str:
    if not re.fullmatch(r"[0-9]{1,12}", value):
        raise validation.ValidationError(
            "Unique property reference number must be up to 12 numbers (0 to 9), nothing else"
        )
    return value


def _disability_evidence() -> Mapping[str, str]:
    try:
        return disability_evidence(add_service.service_for("bus-pass-disabled"))
    except NotFound:  # a catalogue without the disabled person's bus pass
        return {}


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _school_years(on: date) -> dict[str, str]:
    start = academic_year_start(on)
    return academic_year_choices([start, start + 1])


def _blue_badge_checks(form: Form) -> None:
    data = form.data
    approved, decided, ends = data["approved"] == "yes", data["decided_on"], data["ends_on"]
    if approved and ends is None:
        form.add_error("ends_on", "Enter the date the Blue Badge ends, from the decision letter")
    elif not approved and ends is not None:
        form.add_error(
            "ends_on", "Leave the end date empty: a Blue Badge that was not awarded has none"
        )
    elif ends is not None and ends <= decided:
        form.add_error("ends_on", "The date the Blue Badge ends must be after the decision")


PAGES: Mapping[FactName, FactPage] = {
    FactName.DATE_OF_BIRTH: FactPage(
        FactName.DATE_OF_BIRTH,
        "Record a date of birth from a document",
        lambda on: (
            Field(
                "date_of_birth",
                "Date of birth on the document",
                kind="date",
                hint="For example, 27 3 1985. It must be the same as the date of birth on "
                "the record",
                check=validation.check_date_of_birth,
            ),
        ),
        lambda data, resident, seen: data["date_of_birth"],
        main="date_of_birth",
    ),
    FactName.ADDRESS: FactPage(
        FactName.ADDRESS,
        "Record an address from a document",
        lambda on: (
            Field(
                "confirm",
                "The document shows the address on the record",
                kind="checkbox",
                check=_must_confirm_address,
            ),
            Field(
                "uprn",
                "Unique property reference number (UPRN)",
                required=False,
                max_length=20,
                hint="Optional. Up to 12 numbers, from the council's address gazetteer",
                check=_check_uprn,
                width="20",
            ),
        ),
        lambda data, resident, seen: Address(resident.postcode, data["uprn"] or resident.uprn),
        main="confirm",
    ),
    FactName.LIVES_IN_KENT: _yes_no(
        FactName.LIVES_IN_KENT,
        "Record that the resident lives in Kent",
        "Does the document show that the resident lives in Kent?",
        "Select yes if the document shows the resident lives in Kent",
        expiry=False,  # ends when the address changes
    ),
    FactName.WORKS_IN_KENT: _yes_no(
        FactName.WORKS_IN_KENT,
        "Record that the resident works in Kent",
        "Does the document show that the resident works in Kent?",
        "Select yes if the document shows the resident works in Kent",
    ),
    FactName.STUDIES_IN_KENT: _yes_no(
        FactName.STUDIES_IN_KENT,
        "Record that the resident studies in Kent",
        "Does the document show that the resident studies in Kent?",
        "Select yes if the document shows the resident studies in Kent",
    ),
    FactName.SCHOOL_YEAR: FactPage(
        FactName.SCHOOL_YEAR,
        "Record a school year from a document",
        lambda on: (
            Field(
                "year_group",
                "Year group",
                kind="select",
                choices=year_group_choices(),
                required_message="Select the year group the letter gives",
            ),
            Field(
                "academic_year",
                "In which school year?",
                kind="radios",
                choices=_school_years(on),
                hint="School years run from September to August",
                required_message="Select the school year the letter is about",
            ),
        ),
        lambda data, resident, seen: SchoolYear(
            int(data["year_group"]), int(data["academic_year"])
        ),
        main="year_group",
    ),
    FactName.FULL_TIME_EDUCATION: _yes_no(
        FactName.FULL_TIME_EDUCATION,
        "Record full-time education or training",
        "Does the document show that the resident is in full-time education or training?",
        "Select yes if the document shows full-time education or training",
    ),
    FactName.DISABILITY: FactPage(
        FactName.DISABILITY,
        "Record a disability from a document",
        lambda on: (
            Field(
                "category",
                "Which of the disabilities in the law does the evidence show?",
                kind="radios",
                choices=disability_choices(_disability_evidence()),
                hint="The 7 disabilities of the Transport Act 2000, section 146, in its words, "
                "with the evidence accepted for each",
                required_message="Select the disability the evidence shows",
            ),
        ),
        lambda data, resident, seen: Disability(
            DisabilityCategory(data["category"]), _lower_first(seen)
        ),
        expiry=True,
        main="category",
    ),
    FactName.BLUE_BADGE_DECISION: FactPage(
        FactName.BLUE_BADGE_DECISION,
        "Record a Blue Badge decision",
        lambda on: (
            Field(
                "approved",
                "Was a Blue Badge awarded?",
                kind="radios",
                choices=YES_NO,
                required_message="Select yes if a Blue Badge was awarded",
            ),
            Field.from_rule(
                "decided_on",
                validation.DateRule("Date of the decision", validation.check_not_in_future),
                hint="For example, 27 3 2026",
            ),
            Field(
                "ends_on",
                "When does the Blue Badge end?",
                kind="date",
                required=False,
                hint="Only if it was awarded: the end date on the decision letter",
            ),
        ),
        lambda data, resident, seen: BlueBadgeDecision(
            data["approved"] == "yes", data["decided_on"], data["ends_on"]
        ),
        validate=_blue_badge_checks,
        main="approved",
    ),
    FactName.QUALIFYING_AWARD: FactPage(
        FactName.QUALIFYING_AWARD,
        "Record a qualifying benefit or award",
        lambda on: (
            Field(
                "award",
                "Which award does the evidence show?",
                kind="radios",
                choices=award_choices(),
                required_message="Select the award the evidence shows",
            ),
        ),
        lambda data, resident, seen: QualifyingAward(data["award"]),
        expiry=True,
        main="award",
    ),
    FactName.PARENTAL_CONSENT: _yes_no(
        FactName.PARENTAL_CONSENT,
        "Record a parent or guardian's consent",
        "Has a parent or guardian given their consent?",
        "Select yes if a parent or guardian has given their consent",
    ),
    FactName.NEEDS_COMPANION: _yes_no(
        FactName.NEEDS_COMPANION,
        "Record the need for a companion to travel",
        "Does the assessment show that the resident needs someone with them to travel?",
        "Select yes if the assessment shows the resident needs a companion",
    ),
}
assert set(PAGES) == set(FactName), "every fact needs a page"


def _future(value: date) -> date:
    if value <= date.today():
        raise validation.ValidationError("The date it stops applying must be in the future")
    return value


def expiry_hint(name: FactName, on: date) -> str:
    default = facts.default_expiry(name, on)
    if default is not None:
        return f"Optional. If you leave it empty: the end of this school year, {long_date(default)}"
    return "Optional. For example, the end date on an award letter"


def fact_form(page: FactPage, on: date, formdata: Any = None) -> Form:
    """The form for ``page``: its own questions, then the evidence seen."""
    fields = [
        *page.fields(on),
        Field(
            "evidence_type",
            "What did you see or check?",
            kind="radios",
            choices=evidence_for(page.name),
            required_message="Select the document or check you saw",
        ),
        REFERENCE_FIELD,
    ]
    if page.expiry:
        fields.append(
            Field(
                "expires_on",
                "When does it stop applying?",
                kind="date",
                required=False,
                hint=expiry_hint(page.name, on),
                check=_future,
            )
        )
    checks = page.validate

    def validate_form(self: Form) -> None:
        if checks is not None:
            checks(self)

    form_class: type[Form] = type(
        "FactForm", (Form,), {"fields": tuple(fields), "validate_form": validate_form}
    )
    return form_class(formdata)


def value_from(page: FactPage, form: Form, resident: Resident) -> FactValue:
    seen = EVIDENCE_TYPES[form.data["evidence_type"]].label
    return page.value(form.data, resident, seen)


def expiry_from(page: FactPage, form: Form, on: date) -> date | None:
    if not page.expiry:
        return None
    chosen: date | None = form.data.get("expires_on")
    return chosen or facts.default_expiry(page.name, on)


class ChooseFactForm(Form):
    """The first step: which fact the document shows; its own page asks the rest."""

    fields = (
        Field(
            "fact",
            "What did the document or check show?",
            kind="radios",
            choices={name.value: facts.FACT_LABELS[name] for name in PAGES},
            required_message="Select what the document or check showed",
        ),
    )
