"""Card + PIN at a library kiosk that speaks SIP2: the proof carried in the patron password.

SIP2 has no message to fetch a challenge from the library side, and its patron password
field (``AD``) holds at most 255 characters. A kiosk with a Kent Card reader therefore
makes the challenge itself, as a reader does for a tap (its clock in the first 8 bytes,
8 random bytes after), has the resident type the PIN on the reader, lets the card check
it (VERIFY) and asks for the PIN-gated signature (INTERNAL AUTHENTICATE, P2 ``01``) over
that challenge. The patron password is then::

    KCPIN1.<base64url without padding of: challenge (16 bytes) || DER signature>

at most 7 + 118 characters. The bridge checks it against the card register (docs/sip2.md):
the signature over ``"KENTCARD-SIGNIN-1" || challenge || card data`` with the card key on
the register, a challenge time within the window, and a challenge never accepted before
for that card. The PIN itself never leaves the reader and the card.

No Flask, no database: the kiosk side (:func:`make_pin_proof`) and the parsing and
checking the bridge uses (:func:`parse_pin_proof`, :func:`proof_signed_by`).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import date

from cardio import certificate as cert
from cardio import spec
from cardio.connection import CardConnection
from cardio.session import card_data_tlvs
from cardio.signin import sign_with_card
from cardio.verify import new_challenge

PREFIX = "KCPIN1."
#: A DER ECDSA P-256 signature is at most 72 bytes; 8 is a floor well below any real one.
_SIGNATURE_BYTES = (8, 72)


class PinProofError(ValueError):
    """A patron password that is not a well-formed card + PIN proof."""


@dataclass(frozen=True)
class PinProof:
    challenge: bytes
    signature: bytes


def encode_pin_proof(challenge: bytes, signature: bytes) -> str:
    blob = base64.urlsafe_b64encode(challenge + signature).rstrip(b"=").decode("ascii")
    return PREFIX + blob


def looks_like_pin_proof(text: str) -> bool:
    return text.startswith(PREFIX)


def parse_pin_proof(text: str) -> PinProof:
    """The challenge and signature in a patron password; :class:`PinProofError` if odd."""
    if not text.startswith(PREFIX):
        raise PinProofError("not a card + PIN proof")
    blob = text[len(PREFIX) :]
    if not blob or len(blob) > 160 or not blob.isascii():
        raise PinProofError("card + PIN proof of the wrong length")
    try:
        raw = base64.urlsafe_b64decode(blob + "=" * (-len(blob) % 4))
    except (binascii.Error, ValueError):
        raise PinProofError("card + PIN proof is not base64url") from None
    challenge, signature = raw[: spec.CHALLENGE_LENGTH], raw[spec.CHALLENGE_LENGTH :]
    low, high = _SIGNATURE_BYTES
    if len(challenge) != spec.CHALLENGE_LENGTH or not low <= len(signature) <= high:
        raise PinProofError("card + PIN proof of the wrong length")
    return PinProof(challenge, signature)


def proof_signed_by(proof: PinProof, public_point: bytes, card_number: str, expiry: date) -> bool:
    """Whether the card with this registered key, number and expiry made the signature
    (which it does only after the PIN was verified)."""
    try:
        key = cert.public_key_from_point(public_point)
    except ValueError:
        return False
    message = spec.sign_in_message(proof.challenge, card_data_tlvs(card_number, expiry))
    return cert.verify_der(key, proof.signature, message)


def make_pin_proof(connection: CardConnection, pin: str, now: float | None = None) -> str:
    """The kiosk's side: VERIFY the PIN on the card, have it sign a fresh challenge, and
    return the patron password to send. Raises what :func:`cardio.signin.sign_with_card`
    raises (a wrong PIN: :class:`~cardio.errors.InvalidPinError` with the tries left)."""
    challenge = new_challenge(now)
    evidence = sign_with_card(connection, pin, challenge)
    return encode_pin_proof(challenge, evidence.signature)
