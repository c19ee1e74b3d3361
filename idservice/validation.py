"""Checks on values people type, shared by forms, the staff console, the command line,
the registrar's feed and the APIs: one rule, one message, wherever a value comes in.

Messages follow the GOV.UK Design System's error message patterns: say what is wrong and
how to fix it, in plain English. They never repeat the value, so a report of a refused
line (an import, a log) carries no personal data.

Every value that ends up on a resident's record goes through :func:`clean_text` (or
:func:`parse_iso_date` / :func:`parse_date_parts` for dates): a value that is not a
string is refused rather than turned into one (``None`` counts as missing), it is trimmed
and put into Unicode normal form C, and control characters (including the invisible
format characters such as the right-to-left override, U+202E) are refused. The ``RULES``
name the column each value is stored in; a test checks each rule's longest stored value
fits it, so the database never has to refuse a value the rules let through.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from email_validator import EmailNotValidError, validate_email


class ValidationError(ValueError):
    """A value a person typed is not acceptable; the message is shown to them."""


# The UK postcode format (including GIR 0AA); BFPO and overseas territories are not Kent.
_POSTCODE = re.compile(
    r"^(GIR ?0AA|[A-PR-UWYZ]"
    r"([0-9]{1,2}|[A-HK-Y][0-9]{1,2}|[0-9][A-HJKPSTUW]|[A-HK-Y][0-9][ABEHMNPRVWXY])"
    r" ?[0-9][ABD-HJLNP-UW-Z]{2})$"
)
_PHONE_ALLOWED = re.compile(r"^[0-9+()\- ]+$")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
EARLIEST_BIRTH_YEAR = 1900
#: Longest values stored after normalising: "ME14 1XQ" and "07700900982".
POSTCODE_STORED_LENGTH = 8
PHONE_STORED_LENGTH = 11
EMAIL_MAX_LENGTH = 254
PHONE_MESSAGE = "Enter a telephone number, like 01632 960 001, 07700 900 982 or +44 808 157 0192"

#: Unicode categories refused in anything typed: controls (tabs, new lines, escapes),
#: format characters (bidi overrides, zero-width joiners), surrogates and private use.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def has_control_characters(text: str) -> bool:
    """Whether ``text`` holds a character no single-line answer needs.

    Format characters (Cf) are refused as well as controls: the bidi overrides can make a
    name read differently from what is stored, and zero-width characters make two names
    that look the same compare different, which defeats matching a person to a record.
    """
    return any(unicodedata.category(ch) in _REFUSED_CATEGORIES for ch in text)


def _lower_first(label: str) -> str:
    return label[0].lower() + label[1:]


def clean_text(
    value: object,
    label: str,
    *,
    kind: str = "text",
    max_length: int | None = None,
    required: bool = True,
    required_message: str | None = None,
    strip: bool = True,
) -> str | None:
    """One typed answer, checked and normalised; ``None`` when optional and empty.

    ``kind`` is text, email, postcode, phone or password. A password is kept exactly as
    typed (any character, no trimming when ``strip`` is false); only its length is checked.
    """
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValidationError(f"{label} must be text")
    text = value.strip() if strip else value
    if kind != "password":
        text = unicodedata.normalize("NFC", text)
    if not text:
        if required:
            raise ValidationError(required_message or f"Enter {_lower_first(label)}")
        return None
    if max_length is not None and len(text) > max_length:
        raise ValidationError(f"{label} must be {max_length} characters or fewer")
    if kind == "password":
        return text
    if has_control_characters(text):
        raise ValidationError(f"{label} must not contain special characters")
    if kind == "email":
        return normalise_email(text)
    if kind == "postcode":
        return normalise_postcode(text)
    if kind == "phone":
        return normalise_phone(text)
    return text


def normalise_email(text: str) -> str:
    too_long = f"Email address must be {EMAIL_MAX_LENGTH} characters or fewer"
    if len(text) > EMAIL_MAX_LENGTH:
        raise ValidationError(too_long)
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError:
        raise ValidationError(
            "Enter an email address in the correct format, like name@example.com"
        ) from None
    normalised = str(result.normalized).lower()
    if len(normalised) > EMAIL_MAX_LENGTH:  # lower-casing can lengthen some letters
        raise ValidationError(too_long)
    return normalised


def normalise_postcode(text: str) -> str:
    compact = re.sub(r"\s+", "", text).upper()
    if not compact.isascii() or not _POSTCODE.match(compact):
        raise ValidationError("Enter a real UK postcode, like ME14 1XQ")
    return f"{compact[:-3]} {compact[-3:]}"


def normalise_phone(text: str) -> str:
    if not _PHONE_ALLOWED.match(text):
        raise ValidationError(PHONE_MESSAGE)
    digits = re.sub(r"[^0-9+]", "", text)
    if digits.startswith("+44"):
        national = "0" + digits[3:]
    elif digits.startswith("0044"):
        national = "0" + digits[4:]
    else:
        national = digits
    if not re.fullmatch(r"0[0-9]{9,10}", national):
        raise ValidationError(PHONE_MESSAGE)
    return national


def _required_date_message(label: str) -> str:
    return f"Enter your {label.lower()}"


def parse_date_parts(parts: dict[str, Any], label: str, *, required: bool = True) -> date | None:
    """Day, month and year boxes to a date, with the Design System's messages."""
    day, month, year = (str(parts.get(k, "")).strip() for k in ("day", "month", "year"))
    if not (day or month or year):
        if required:
            raise ValidationError(_required_date_message(label))
        return None
    named = (("day", day), ("month", month), ("year", year))
    missing = [name for name, value in named if not value]
    if missing:
        raise ValidationError(f"{label} must include a {' and '.join(missing)}")
    if not (day.isdigit() and month.isdigit() and year.isdigit()) or len(year) != 4:
        raise ValidationError(f"{label} must be a real date")
    try:
        value = date(int(year), int(month), int(day))
    except ValueError:
        raise ValidationError(f"{label} must be a real date") from None
    return value


def parse_iso_date(value: object, label: str, *, required: bool = True) -> date | None:
    """A date written YYYY-MM-DD (command line, feeds), with the same messages as the boxes."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ValidationError(_required_date_message(label))
        return None
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value.strip()):
        raise ValidationError(f"{label} must be a real date")
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ValidationError(f"{label} must be a real date") from None


def check_date_of_birth(value: date, today: date | None = None) -> date:
    today = today or date.today()
    if value >= today:
        raise ValidationError("Date of birth must be in the past")
    if value.year < EARLIEST_BIRTH_YEAR:
        raise ValidationError(f"Date of birth must be after {EARLIEST_BIRTH_YEAR}")
    return value


def check_not_in_future(value: date) -> date:
    """A life event that has happened: a death, a change of name or address."""
    if value > date.today():
        raise ValidationError("The date must be today or in the past")
    return value


def check_move_out_date(value: date) -> date:
    """A move out of Kent may be told up to a year ahead, or up to 6 years late."""
    if value > date.today() + timedelta(days=366):
        raise ValidationError("The move date must be within the next year")
    if value < date.today() - timedelta(days=366 * 6):
        raise ValidationError("The move date must be within the last 6 years")
    return value


def check_resident_reference(value: str) -> str:
    """A resident's reference (the record's id): a UUID, written in its usual form."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ValidationError(
            "Enter a resident reference in the correct format, like "
            "2f1c1a5e-3d4b-4c8e-9f7a-0b1c2d3e4f5a"
        ) from None


def check_password(value: str) -> str:
    """NCSC guidance: length over complexity; long passphrases welcome, but bounded."""
    if len(value) < 10:
        raise ValidationError("Password must be 10 characters or more")
    if len(value) > 256:
        raise ValidationError("Password must be 256 characters or fewer")
    return value


# --- the rules: one per kind of value, shared by every way in ------------------------------


@dataclass(frozen=True)
class TextRule:
    """A value typed as text: its label and messages, its limit and where it is stored.

    ``max_length`` bounds the trimmed, normalised value; ``stored_length`` is the longest
    value :meth:`clean` can return (shorter than ``max_length`` for postcodes and phone
    numbers, which are normalised to a fixed form). ``column`` is ``table.column``.
    """

    label: str
    max_length: int
    required_message: str
    kind: str = "text"
    column: str | None = None
    check: Callable[[str], str] | None = None

    @property
    def stored_length(self) -> int:
        if self.kind == "postcode":
            return POSTCODE_STORED_LENGTH
        if self.kind == "phone":
            return PHONE_STORED_LENGTH
        return self.max_length

    def clean(self, value: object, *, required: bool = True) -> str | None:
        cleaned = clean_text(
            value,
            self.label,
            kind=self.kind,
            max_length=self.max_length,
            required=required,
            required_message=self.required_message if required else None,
        )
        if cleaned is not None and self.check is not None:
            cleaned = self.check(cleaned)
        return cleaned

    def clean_required(self, value: object) -> str:
        cleaned = self.clean(value)
        assert cleaned is not None
        return cleaned


@dataclass(frozen=True)
class DateRule:
    """A date: typed as day, month and year boxes on a page, YYYY-MM-DD elsewhere."""

    label: str
    check: Callable[[date], date] | None = None
    column: str | None = None

    def from_iso(self, value: object, *, required: bool = True) -> date | None:
        parsed = parse_iso_date(value, self.label, required=required)
        if parsed is not None and self.check is not None:
            parsed = self.check(parsed)
        return parsed

    def from_iso_required(self, value: object) -> date:
        parsed = self.from_iso(value)
        assert parsed is not None
        return parsed


GIVEN_NAME = TextRule("First name", 100, "Enter your first name", column="residents.given_name")
FAMILY_NAME = TextRule("Last name", 100, "Enter your last name", column="residents.family_name")
ADDRESS_LINE_1 = TextRule(
    "Address line 1",
    200,
    "Enter address line 1, typically the building and street",
    column="residents.address_line_1",
)
ADDRESS_LINE_2 = TextRule(
    "Address line 2", 200, "Enter address line 2", column="residents.address_line_2"
)
TOWN = TextRule("Town or city", 100, "Enter town or city", column="residents.town")
POSTCODE = TextRule(
    "Postcode", 10, "Enter your postcode", kind="postcode", column="residents.postcode"
)
EMAIL = TextRule(
    "Email address",
    EMAIL_MAX_LENGTH,
    "Enter your email address",
    kind="email",
    column="residents.email",
)
PHONE = TextRule(
    "UK phone number", 20, "Enter your phone number", kind="phone", column="residents.phone"
)
STAFF_NAME = TextRule("Name", 200, "Enter the name", column="staff_members.name")
LIFE_EVENT_REFERENCE = TextRule(
    "Death registration reference (optional)",
    64,
    "Enter the death registration reference",
    column="life_events.reference",
)
RESIDENT_REFERENCE = TextRule(
    "Resident reference",
    36,
    "Enter the resident reference",
    column="residents.id",
    check=check_resident_reference,
)
NOTIFIER = TextRule("Who told us", 64, "Enter who told us", column="life_events.actor_id")


def check_different_person_reason(value: str) -> str:
    if len(value) < 5:
        raise ValidationError("Reason this is a different person must be 5 characters or more")
    return value


#: Why a new record is not the same person as a likely match (staff console, command line).
DIFFERENT_PERSON = TextRule(
    "Reason this is a different person",
    300,
    "Enter how you know this is a different person",
    column="possible_duplicates.note",
    check=check_different_person_reason,
)

DATE_OF_BIRTH = DateRule("Date of birth", check_date_of_birth, column="residents.date_of_birth")
DATE_OF_DEATH = DateRule("Date of death", check_not_in_future, column="life_events.occurred_on")
MOVE_OUT_DATE = DateRule(
    "Date they move or moved out of Kent", check_move_out_date, column="life_events.occurred_on"
)
NAME_CHANGE_DATE = DateRule(
    "Date the name changed", check_not_in_future, column="life_events.occurred_on"
)
ADDRESS_CHANGE_DATE = DateRule(
    "Date they moved", check_not_in_future, column="life_events.occurred_on"
)

#: Every shared rule, by the name of the field it is used for.
RULES: dict[str, TextRule | DateRule] = {
    "given_name": GIVEN_NAME,
    "family_name": FAMILY_NAME,
    "address_line_1": ADDRESS_LINE_1,
    "address_line_2": ADDRESS_LINE_2,
    "town": TOWN,
    "postcode": POSTCODE,
    "email": EMAIL,
    "phone": PHONE,
    "staff_name": STAFF_NAME,
    "life_event_reference": LIFE_EVENT_REFERENCE,
    "resident_reference": RESIDENT_REFERENCE,
    "notifier": NOTIFIER,
    "different_person": DIFFERENT_PERSON,
    "date_of_birth": DATE_OF_BIRTH,
    "date_of_death": DATE_OF_DEATH,
    "move_out_date": MOVE_OUT_DATE,
    "name_change_date": NAME_CHANGE_DATE,
    "address_change_date": ADDRESS_CHANGE_DATE,
}
