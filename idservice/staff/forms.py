"""The staff console's forms, built from the same fields as the residents' pages."""

from __future__ import annotations

import dataclasses
import re
from typing import ClassVar

from cardio.cardnumber import has_valid_check_digit
from idservice import validation
from idservice.models.cards import HOTLIST_REASONS
from idservice.staff.identity import normalise_reference
from idservice.staff.services import STAFF_CHANNELS
from idservice.web.accounts import code_field
from idservice.web.forms import Field, Form
from idservice.web.registration import (
    address_fields,
    date_of_birth_field,
    email_field,
    name_fields,
    phone_field,
)

#: Errors about the whole search (not one field) are shown under this name.
SEARCH_ERROR = "search"


class StaffSignInForm(Form):
    fields = (
        Field(
            "email",
            "Email address",
            kind="email",
            max_length=254,
            required_message="Enter your staff email address",
        ),
        Field(
            "password",
            "Password",
            kind="password",
            max_length=256,
            required_message="Enter your password",
            strip=False,
        ),
    )


class StaffCodeForm(Form):
    fields = (code_field(),)


def _for_someone_else(f: Field) -> Field:
    """Staff type other people's details: the browser must not offer the staff member's own."""
    return dataclasses.replace(f, autocomplete=None)


def _optional(f: Field, hint: str | None = None) -> Field:
    return dataclasses.replace(
        _for_someone_else(f), required=False, hint=hint, required_message=None
    )


def _check_card_number(value: str) -> str:
    """Digits as printed (spaces allowed), 16 of them, with a correct Luhn check digit."""
    number = re.sub(r"[\s-]", "", value)
    if not number.isascii() or not number.isdigit():
        raise validation.ValidationError("Card number must only include numbers 0 to 9")
    if len(number) != CARD_NUMBER_DIGITS:
        raise validation.ValidationError(
            f"Card number must be {CARD_NUMBER_DIGITS} digits, as printed on the front of the card"
        )
    if not has_valid_check_digit(number):
        raise validation.ValidationError(
            "This is not a Kent Card number: check each digit against the card"
        )
    return number


CARD_NUMBER_DIGITS = 16

CARD_NUMBER_FIELD = Field(
    "card_number",
    "Kent Card number",
    required=False,
    max_length=30,
    hint="The 16 digits on the front of the card",
    check=_check_card_number,
    width="20",
)


class SearchForm(Form):
    """Last name with date of birth, or an email address, a postcode or a card number."""

    fields = (
        _optional(name_fields()[1]),
        _optional(name_fields()[0], hint="Optional. The start of the name is enough"),
        _optional(date_of_birth_field(), hint="For example, 27 3 1985"),
        _optional(email_field()),
        _optional(address_fields()[3]),
        CARD_NUMBER_FIELD,
    )

    def validate_form(self) -> None:
        d = self.data
        if d["given_name"] and not d["family_name"]:
            self.add_error("family_name", "Enter the resident's last name as well as a first name")
        elif d["date_of_birth"] and not d["family_name"]:
            self.add_error("family_name", "Enter the resident's last name with the date of birth")
        elif d["family_name"] and not (
            d["date_of_birth"] or d["email"] or d["postcode"] or d["card_number"]
        ):
            self.add_error(
                "date_of_birth", "Enter the resident's date of birth with their last name"
            )
        elif not (d["family_name"] or d["email"] or d["postcode"] or d["card_number"]):
            self.add_error(
                SEARCH_ERROR,
                "Enter a last name and date of birth, an email address, a postcode or a "
                "Kent Card number",
            )


def _check_reason(value: str) -> str:
    if len(value) < 5:
        raise validation.ValidationError("Reason must be 5 characters or more")
    return value


CHANNEL_FIELD = Field(
    "channel",
    "How are you helping the resident?",
    kind="radios",
    choices=STAFF_CHANNELS,
    required_message="Select how you are helping the resident",
)

REASON_HINT = (
    "For example: resident at the desk asking to change their address. "
    "The resident can see this on their account activity page"
)


class OpenRecordForm(Form):
    fields = (
        CHANNEL_FIELD,
        Field(
            "reason",
            "Why are you opening this record?",
            max_length=200,
            hint=REASON_HINT,
            required_message="Enter why you are opening this record",
            check=_check_reason,
        ),
    )


class OpenRecordReasonOptionalForm(Form):
    """For roles that the permission table does not ask for a reason."""

    fields = (
        CHANNEL_FIELD,
        Field(
            "reason",
            "Why are you opening this record?",
            required=False,
            max_length=200,
            hint=REASON_HINT,
            check=_check_reason,
        ),
    )


def _check_reference(value: str) -> str:
    compact = normalise_reference(value)
    if not re.fullmatch(r"[A-Z0-9]{4,40}", compact):
        raise validation.ValidationError(
            "Reference must be 4 to 40 letters and numbers, as printed on the document"
        )
    return value


#: The confirmation asked for only when an existing record may be the same person.
DIFFERENT_PERSON_FIELDS = (
    Field(
        "different_person",
        "This is a different person from the records shown",
        kind="checkbox",
        required=False,
    ),
    Field.from_rule(
        "different_person_reason",
        validation.DIFFERENT_PERSON,
        label="How do you know this is a different person?",
        required=False,
        required_message=None,
        hint="For example: twin brother, both passports seen. Both residents can see this, "
        "so do not write anything else about the other person",
    ),
)
CONFIRMING = frozenset(f.name for f in DIFFERENT_PERSON_FIELDS)


class RegisterResidentForm(Form):
    fields = (
        *(_for_someone_else(f) for f in (*name_fields(), date_of_birth_field(), *address_fields())),
        _optional(
            email_field(),
            hint="Optional. Leave empty if the resident does not use email. "
            "We will send a link to confirm it",
        ),
        _for_someone_else(phone_field()),
        CHANNEL_FIELD,
        *DIFFERENT_PERSON_FIELDS,
    )

    def details(self) -> dict[str, object]:
        """The resident's details, without the channel and the confirmation."""
        return {k: v for k, v in self.data.items() if k != "channel" and k not in CONFIRMING}

    def only_confirmation_refused(self) -> bool:
        """Every detail is good; only the "different person" answer needs correcting."""
        return bool(self.errors) and set(self.errors) <= CONFIRMING


class AuditFilterForm(Form):
    fields = (
        Field.from_rule(
            "resident",
            validation.RESIDENT_REFERENCE,
            hint="The reference from the resident's record. Leave empty to see all records",
            required=False,
            required_message=None,
        ),
    )


HOTLIST_CHOICES = {"lost": "Lost", "stolen": "Stolen", "damaged": "Damaged"}
assert tuple(HOTLIST_CHOICES) == HOTLIST_REASONS


def _hotlist_field(label: str) -> Field:
    return Field(
        "why",
        label,
        kind="radios",
        choices=HOTLIST_CHOICES,
        hint="The card stops working at every reader straight away. This cannot be undone",
        required_message="Select whether the card was lost, stolen or damaged",
    )


def _must_confirm(ticked: bool) -> bool:
    if not ticked:
        raise validation.ValidationError(
            "Confirm the resident has asked for this card to be stopped"
        )
    return ticked


class ReportCardForm(Form):
    fields = (
        _hotlist_field("What happened to the card?"),
        Field(
            "confirm",
            "The resident has asked for this card to be stopped",
            kind="checkbox",
            check=_must_confirm,
        ),
    )


def _check_pin(value: str) -> str:
    if not re.fullmatch(r"[0-9]{4,8}", value):
        raise validation.ValidationError("PIN must be 4 to 8 numbers (0 to 9), nothing else")
    return value


PIN_HINT = "The resident types it themselves: 4 to 8 numbers. It is written to the card only"


class IssueCardForm(Form):
    """The PIN typed twice by the resident. Password fields: never shown again or kept."""

    fields: ClassVar[tuple[Field, ...]] = (
        Field(
            "pin",
            "New PIN",
            kind="password",
            max_length=20,
            hint=PIN_HINT,
            required_message="Ask the resident to type a PIN of 4 to 8 numbers",
            check=_check_pin,
            strip=False,
            autocomplete="new-password",
            width="10",
        ),
        Field(
            "pin_confirm",
            "New PIN again",
            kind="password",
            max_length=20,
            required_message="Ask the resident to type the PIN again",
            strip=False,
            autocomplete="new-password",
            width="10",
        ),
    )

    def validate_form(self) -> None:
        if self.data["pin"] != self.data["pin_confirm"]:
            self.add_error(
                "pin_confirm", "The two PINs are different. Ask the resident to type both again"
            )


class ReplaceCardForm(IssueCardForm):
    """Replacing the active card: say what happened to it; it is reported at once."""

    fields = (_hotlist_field("What happened to the current card?"), *IssueCardForm.fields)


class UnblockPinForm(IssueCardForm):
    """Unblocking at the counter: the resident chooses a new PIN, typed twice."""


class NotSamePersonForm(Form):
    """Resolving a possible duplicate: they are different people, and how staff know."""

    fields = (
        Field.from_rule(
            "note",
            validation.DIFFERENT_PERSON,
            label="How do you know they are different people?",
            hint="For example: twins, both passports seen. Both residents can see this, so "
            "write nothing about one of them that the other should not read",
        ),
    )
