"""Checks on values people type, shared by forms, the command line and APIs.

Messages follow the GOV.UK Design System's error message patterns: say what is wrong and
how to fix it, in plain English.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
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
EARLIEST_BIRTH_YEAR = 1900


def has_control_characters(text: str) -> bool:
    return any(unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Co"} for ch in text if ch != "\n")


def normalise_email(text: str) -> str:
    if len(text) > 254:
        raise ValidationError("Email address must be 254 characters or fewer")
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError:
        raise ValidationError(
            "Enter an email address in the correct format, like name@example.com"
        ) from None
    return result.normalized.lower()


def normalise_postcode(text: str) -> str:
    compact = re.sub(r"\s+", "", text).upper()
    if not _POSTCODE.match(compact):
        raise ValidationError("Enter a real UK postcode, like ME14 1XQ")
    return f"{compact[:-3]} {compact[-3:]}"


def normalise_phone(text: str) -> str:
    if not _PHONE_ALLOWED.match(text):
        raise ValidationError(
            "Enter a telephone number, like 01632 960 001, 07700 900 982 or +44 808 157 0192"
        )
    digits = re.sub(r"[^0-9+]", "", text)
    if digits.startswith("+44"):
        national = "0" + digits[3:]
    elif digits.startswith("0044"):
        national = "0" + digits[4:]
    else:
        national = digits
    if not re.fullmatch(r"0[0-9]{9,10}", national):
        raise ValidationError(
            "Enter a telephone number, like 01632 960 001, 07700 900 982 or +44 808 157 0192"
        )
    return national


def parse_date_parts(parts: dict[str, Any], label: str, *, required: bool = True) -> date | None:
    """Day, month and year boxes to a date, with the Design System's messages."""
    day, month, year = (str(parts.get(k, "")).strip() for k in ("day", "month", "year"))
    if not (day or month or year):
        if required:
            raise ValidationError(f"Enter your {label.lower()}")
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


def check_date_of_birth(value: date, today: date | None = None) -> date:
    today = today or date.today()
    if value >= today:
        raise ValidationError("Date of birth must be in the past")
    if value.year < EARLIEST_BIRTH_YEAR:
        raise ValidationError(f"Date of birth must be after {EARLIEST_BIRTH_YEAR}")
    return value


def check_password(value: str) -> str:
    """NCSC guidance: length over complexity; long passphrases welcome, but bounded."""
    if len(value) < 10:
        raise ValidationError("Password must be 10 characters or more")
    if len(value) > 256:
        raise ValidationError("Password must be 256 characters or fewer")
    return value
