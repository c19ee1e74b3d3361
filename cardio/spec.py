"""Constants of the Kent Card application (docs/card-protocol.md is the specification).

Shared by the host side (``cardio``) and the virtual card (``hardware``), so the two can
only disagree if the specification does.
"""

from __future__ import annotations

from enum import IntEnum

# Proprietary application identifier: F0 (unregistered RID range) + "KENTCARD" + version 01.
AID = bytes.fromhex("F04B454E544341524401")
APPLICATION_VERSION = 1

CLA = 0x00

INS_SELECT = 0xA4
INS_INTERNAL_AUTHENTICATE = 0x88
INS_VERIFY = 0x20
INS_CHANGE_REFERENCE_DATA = 0x24
INS_RESET_RETRY_COUNTER = 0x2C
INS_GET_CHALLENGE = 0x84
INS_GENERATE_KEY_PAIR = 0x46
INS_PUT_DATA = 0xDA
INS_ACTIVATE = 0x44  # LOCK: closes personalisation
INS_GET_RESPONSE = 0xC0

P1_SELECT_BY_NAME = 0x04
P2_SELECT_FCI = 0x00
P2_SELECT_NO_RESPONSE = 0x0C
P2_PIN_REFERENCE = 0x80  # the card holder PIN, application specific
P1_RRC_NEW_PIN = 0x02  # RESET RETRY COUNTER: new PIN and reset the counter (SET PIN)
P1_RRC_RESET_ONLY = 0x03  # RESET RETRY COUNTER: only reset the counter (unblock)
P1P2_PUT_DATA_CARD = (0x3F, 0xFF)
# INTERNAL AUTHENTICATE key references: the same card key, two uses that never mix.
P2_AUTH_TAP = 0x00  # a tap: no PIN, signs LABEL_TAP
P2_AUTH_SIGN_IN = 0x01  # card + PIN sign-in: needs VERIFY in this session, signs LABEL_SIGN_IN

TAG_FCI = 0x6F
TAG_DF_NAME = 0x84
TAG_FCI_PROPRIETARY = 0xA5
TAG_VERSION = 0xDF01
TAG_LIFE_CYCLE = 0xDF02
TAG_CARD_NUMBER = 0x5A
TAG_EXPIRY = 0x5F24
TAG_CERTIFICATE = 0x7F21
TAG_CERTIFICATE_BODY = 0x7F4E
TAG_CERTIFICATE_PROFILE = 0x5F29
TAG_ISSUER_KEY_ID = 0x42
TAG_PUBLIC_KEY = 0x7F49
TAG_EC_POINT = 0x86
TAG_CERTIFICATE_SIGNATURE = 0x5F37
TAG_SIGNATURE = 0x9E
TAG_SIGNED_PAYLOAD = 0x53

CHALLENGE_LENGTH = 16
KEY_ID_LENGTH = 8
EC_POINT_LENGTH = 65  # uncompressed P-256 point: 04 || X || Y
PIN_BLOCK_LENGTH = 8
PIN_MIN_DIGITS = 4
PIN_MAX_DIGITS = 8
PIN_TRIES = 3
CERTIFICATE_PROFILE = 1

# Domain separation: what the card signs for a tap can never be mistaken for anything else,
# and what the issuer signs for one command can never be replayed as another.
LABEL_TAP = b"KENTCARD-TAP-1"
LABEL_SIGN_IN = b"KENTCARD-SIGNIN-1"
LABEL_ADMIN = b"KENTCARD-ADMIN-1"
LABEL_CERTIFICATE = b"KENTCARD-CERT-1"


class LifeCycle(IntEnum):
    """Tag DF02 in the SELECT answer."""

    PERSONALISING = 0x01
    LOCKED = 0x07  # personalisation closed: the card is in use


def pin_block(pin: str) -> bytes:
    """ASCII digits padded with FF to 8 bytes (as PIV does)."""
    if not pin.isascii() or not pin.isdigit() or not PIN_MIN_DIGITS <= len(pin) <= PIN_MAX_DIGITS:
        raise ValueError(f"a PIN has {PIN_MIN_DIGITS} to {PIN_MAX_DIGITS} digits")
    return pin.encode("ascii").ljust(PIN_BLOCK_LENGTH, b"\xff")


def is_pin_block(block: bytes) -> bool:
    digits = block.rstrip(b"\xff")
    return (
        len(block) == PIN_BLOCK_LENGTH
        and PIN_MIN_DIGITS <= len(digits) <= PIN_MAX_DIGITS
        and all(0x30 <= b <= 0x39 for b in digits)
    )


def admin_message(challenge: bytes, ins: int, p1: int, p2: int, payload: bytes) -> bytes:
    """What the issuer's personalisation key signs for one administrative command."""
    return LABEL_ADMIN + challenge + bytes([ins, p1, p2]) + payload


def tap_message(challenge: bytes, card_data: bytes) -> bytes:
    """What the card signs in INTERNAL AUTHENTICATE (``card_data`` = 5A and 5F24 TLVs)."""
    return LABEL_TAP + challenge + card_data


def sign_in_message(challenge: bytes, card_data: bytes) -> bytes:
    """What the card signs for a card + PIN sign-in (INTERNAL AUTHENTICATE, P2 01)."""
    return LABEL_SIGN_IN + challenge + card_data
