"""The identity evidence form, in two steps that work without JavaScript: which document
or check, then that document's page, which asks only what it proves.

The second page's questions come from :class:`idservice.staff.evidence.Asks`: a
confirmation of each of the record's details the document shows, whether the address is
in Kent when the postcode does not say, and the award on a benefit letter.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from entitlements.facts import FactName, QualifyingAward, VerificationLevel
from idservice import validation
from idservice.services.evidence_types import EVIDENCE_TYPES, WITH_IDENTITY_EVIDENCE
from idservice.staff.evidence import FACT_WORDS, Asks, Seen
from idservice.staff.forms import _check_reference
from idservice.staff.identity import DOCUMENT_TYPES
from idservice.web.fact_answers import YES_NO, award_choices
from idservice.web.forms import Field, Form

REFERENCE_FIELD = Field(
    "reference",
    "Document number or check reference",
    max_length=60,
    hint="Only the last 4 characters are kept, so the resident can recognise it",
    required_message="Enter the document number or check reference",
    check=_check_reference,
    width="20",
)


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _confirm_message(words: list[str]) -> str:
    return (
        f"Confirm the document shows the {_join(words)} on the record. If it shows something "
        "different, change the record first"
    )


def what_it_records(document_type: str) -> str | None:
    """A hint under each document: the facts recording it also records."""
    kind = EVIDENCE_TYPES[document_type]
    names = [
        n for n in WITH_IDENTITY_EVIDENCE if n in kind.proves and n is not FactName.LIVES_IN_KENT
    ]
    if not names:
        return None
    level = "confirmed" if kind.level is VerificationLevel.VERIFIED else "checked"
    return f"Also records the {_join([FACT_WORDS[n] for n in names])} as {level}"


class ChooseDocumentForm(Form):
    fields = (
        Field(
            "document_type",
            "What did you see or check?",
            kind="radios",
            choices={code: t.label for code, t in DOCUMENT_TYPES.items()},
            required_message="Select the type of document or check",
            extra={"item_hints": {code: what_it_records(code) for code in DOCUMENT_TYPES}},
        ),
    )


def _future(value: date) -> date:
    if value <= date.today():
        raise validation.ValidationError("The date the award ends must be in the future")
    return value


def document_form(asks: Asks, formdata: Any = None) -> Form:
    """The form for one document: its reference and what it proves."""
    level = "confirmed" if asks.level is VerificationLevel.VERIFIED else "checked by council staff"
    fields = [REFERENCE_FIELD]
    if asks.confirm:
        fields.append(
            Field(
                "confirm",
                "Does the document show these details from the record?",
                kind="checkboxes",
                choices={
                    name.value: f"{FACT_WORDS[name].capitalize()}: {words}"
                    for name, words in asks.confirm.items()
                },
                hint=f"Tick each one the document shows. Each is recorded as {level}",
                required_message=_confirm_message([FACT_WORDS[name] for name in asks.confirm]),
            )
        )
    if asks.lives_in_kent:
        fields.append(
            Field(
                "lives_in_kent",
                "Is this address in Kent?",
                kind="radios",
                choices=YES_NO,
                hint=f"{asks.lives_in_kent}. A Council Tax bill names the council",
                required_message="Select yes if the document shows the address is in Kent",
            )
        )
    if asks.award:
        fields += [
            Field(
                "qualifying_award",
                "Which award does the letter show?",
                kind="radios",
                choices=award_choices(),
                required_message="Select the award the letter shows",
            ),
            Field(
                "award_ends",
                "When does the award end?",
                kind="date",
                required=False,
                hint="Optional. Leave it empty if the letter gives no end date",
                check=_future,
            ),
        ]
    confirm_names = [name.value for name in asks.confirm]

    def validate_form(self: Form) -> None:
        missing = [
            FACT_WORDS[FactName(n)] for n in confirm_names if n not in self.data.get("confirm", [])
        ]
        if missing:
            self.add_error("confirm", _confirm_message(missing))

    form_class: type[Form] = type(
        "DocumentForm", (Form,), {"fields": tuple(fields), "validate_form": validate_form}
    )
    return form_class(formdata)


def seen_from(form: Form, shown: str | None) -> Seen:
    data = form.data
    lives = data.get("lives_in_kent")
    award = data.get("qualifying_award")
    return Seen(
        confirmed=frozenset(FactName(n) for n in data.get("confirm", [])),
        lives_in_kent=None if lives is None else lives == "yes",
        award=QualifyingAward(award) if award else None,
        award_ends=data.get("award_ends"),
        shown=shown,
    )
