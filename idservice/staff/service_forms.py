"""Staff forms for facts and service requests."""

from __future__ import annotations

from datetime import date

from entitlements.facts import FactName
from entitlements.parsing import FORMATS
from idservice import validation
from idservice.services.facts import EVIDENCE_TYPES, FACT_LABELS
from idservice.staff.forms import _check_reference
from idservice.web.forms import Field, Form

FACT_CHOICES = {name.value: label for name, label in FACT_LABELS.items()}
#: Formats shown beside the value field (the same as ``kentcard eligibility check --fact``).
VALUE_FORMATS = {FACT_LABELS[name]: text for name, text in FORMATS.items()}


def _future(value: date) -> date:
    if value <= date.today():
        raise validation.ValidationError("Expiry date must be in the future")
    return value


class RecordFactForm(Form):
    fields = (
        Field(
            "fact",
            "What did the document or check show?",
            kind="radios",
            choices=FACT_CHOICES,
            required_message="Select what the document or check showed",
        ),
        Field(
            "value",
            "Value",
            required=False,
            max_length=120,
            hint="Leave empty to confirm the value already on the record. Formats are listed "
            "below the form",
        ),
        Field(
            "evidence_type",
            "What did you see or check?",
            kind="radios",
            choices={code: kind.label for code, kind in EVIDENCE_TYPES.items()},
            required_message="Select the document or check you saw",
        ),
        Field(
            "reference",
            "Document number or check reference",
            max_length=60,
            hint="Only the last 4 characters are kept, so the resident can recognise it",
            required_message="Enter the document number or check reference",
            check=_check_reference,
            width="20",
        ),
        Field(
            "expires_on",
            "When does it stop applying?",
            kind="date",
            required=False,
            hint="Optional. For example, the end date on an award letter",
            check=_future,
        ),
    )


DECISIONS = {"approve": "Approve: grant the service now", "refuse": "Refuse"}


class DecideRequestForm(Form):
    fields = (
        Field(
            "decision",
            "What is your decision?",
            kind="radios",
            choices=DECISIONS,
            required_message="Select approve or refuse",
        ),
        Field(
            "why",
            "If you refuse it, why?",
            required=False,
            max_length=300,
            hint="Needed when you refuse. The resident is shown this: say what they can do next",
        ),
    )

    def validate_form(self) -> None:
        if self.data["decision"] == "refuse" and not self.data["why"]:
            self.add_error("why", "Enter why the request is refused")


def fact_name(value: str) -> FactName:
    return FactName(value)
