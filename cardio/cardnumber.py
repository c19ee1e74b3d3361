"""Card numbers: ISO/IEC 7812 with a Luhn check digit, BCD packing and masking.

A card number is personal-ish data: logs and screens show it masked (first 6 + last 4),
only the durable tap log keeps it whole.
"""

from __future__ import annotations

import secrets

# Issuer identification number for development cards. Major industry identifier 9 is
# "assigned by national standards bodies"; the production IIN comes with card issuance.
DEVELOPMENT_IIN = "982601"
CARD_NUMBER_LENGTH = 16
MIN_LENGTH = 8
MAX_LENGTH = 19


class CardNumberError(ValueError):
    """Not a card number (wrong characters, wrong length or wrong check digit)."""


def luhn_check_digit(payload: str) -> str:
    """The digit that makes ``payload + digit`` pass the Luhn check."""
    if not payload.isdigit() or not payload.isascii():
        raise CardNumberError("a card number has digits only")
    total = 0
    for index, char in enumerate(reversed(payload)):
        digit = int(char)
        if index % 2 == 0:  # doubled: these sit left of the check digit at odd distance
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return str((10 - total % 10) % 10)


def has_valid_check_digit(number: str) -> bool:
    if len(number) < 2 or not number.isdigit() or not number.isascii():
        return False
    return luhn_check_digit(number[:-1]) == number[-1]


def check_format(number: str) -> None:
    """Raise :class:`CardNumberError` unless the number has 8 to 19 ASCII digits."""
    if not number.isascii() or not number.isdigit():
        raise CardNumberError("a card number has digits only")
    if not MIN_LENGTH <= len(number) <= MAX_LENGTH:
        raise CardNumberError(f"a card number has {MIN_LENGTH} to {MAX_LENGTH} digits")


def validate(number: str) -> str:
    """Return ``number`` if it is well formed with a correct check digit."""
    check_format(number)
    if not has_valid_check_digit(number):
        raise CardNumberError("the card number's check digit is wrong")
    return number


def new_card_number(iin: str = DEVELOPMENT_IIN, length: int = CARD_NUMBER_LENGTH) -> str:
    """A random card number under ``iin`` with its check digit (development cards)."""
    body = "".join(secrets.choice("0123456789") for _ in range(length - len(iin) - 1))
    payload = iin + body
    return payload + luhn_check_digit(payload)


def mask(number: str) -> str:
    """First 6 and last 4 digits, the rest as ``*`` (the usual receipt format)."""
    if len(number) <= 10:
        return "*" * len(number)
    return number[:6] + "*" * (len(number) - 10) + number[-4:]


def to_bcd(number: str) -> bytes:
    """Pack digits two per byte, padding an odd count with ``F`` (EMV tag 5A style)."""
    check_format(number)
    digits = number + ("F" if len(number) % 2 else "")
    return bytes.fromhex(digits)


def from_bcd(data: bytes) -> str:
    """Unpack :func:`to_bcd`; refuse non-digit nibbles other than one trailing ``F``."""
    text = data.hex().upper()
    if text.endswith("F"):
        text = text[:-1]
    if not text.isdigit():
        raise CardNumberError("card number is not BCD digits")
    check_format(text)
    return text
