"""Expiry dates as EMV tag 5F24 carries them: YYMMDD in BCD, years 2000-2099."""

from __future__ import annotations

from datetime import date


def encode_expiry(value: date) -> bytes:
    if not 2000 <= value.year <= 2099:
        raise ValueError("expiry year must be 2000-2099")
    return bytes.fromhex(value.strftime("%y%m%d"))


def decode_expiry(data: bytes) -> date:
    if len(data) != 3:
        raise ValueError("expiry date is 3 bytes")
    text = data.hex()
    if not text.isdigit():
        raise ValueError("expiry date is not BCD")
    return date(2000 + int(text[0:2]), int(text[2:4]), int(text[4:6]))
