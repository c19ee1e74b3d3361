"""Offline verification of a tap: is this a genuine, current Kent Card?

Two APDUs: SELECT (card data and certificate) and INTERNAL AUTHENTICATE over a fresh
16-byte challenge. Then, with no network: the check digit, the issuer key id against the
reader's keyring, the certificate signature, the certificate matching the card data, the
expiry, and the card's signature over ``LABEL_TAP || challenge || card data`` with the key
the certificate names. Each failure has its own reason.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import Enum

from cardio import certificate as cert
from cardio import spec
from cardio.cardnumber import has_valid_check_digit
from cardio.connection import CardConnection
from cardio.keyring import IssuerKeyring
from cardio.session import KentCardSession, SelectAnswer


class Reason(Enum):
    """Why a tap was rejected before any entitlement was looked at; value = (code, words)."""

    NOT_KENT_CARD = ("not_kent_card", "not a Kent Card")
    NOT_ISSUED = ("not_issued", "card was not finished at issue: send it to a Gateway")
    BAD_CHECK_DIGIT = ("bad_check_digit", "card number check digit is wrong: not a genuine card")
    UNKNOWN_ISSUER = (
        "unknown_issuer",
        "card certificate is from an issuer key this reader does not trust",
    )
    BAD_CERTIFICATE = (
        "bad_certificate",
        "card certificate is forged or does not match the card",
    )
    EXPIRED = ("expired", "card has expired: the resident can renew it at a Gateway")
    NOT_GENUINE = (
        "not_genuine",
        "card could not prove it is genuine (copied card or replayed answer)",
    )

    @property
    def code(self) -> str:
        return self.value[0]

    @property
    def words(self) -> str:
        return self.value[1]


class TapRejected(Exception):
    def __init__(self, reason: Reason, detail: str = "", card_number: str | None = None) -> None:
        super().__init__(f"{reason.words}" + (f" ({detail})" if detail else ""))
        self.reason = reason
        self.detail = detail
        self.card_number = card_number


@dataclass(frozen=True)
class TapEvidence:
    """What the card said in a tap, as sent to the online decision service to check again."""

    select_answer: bytes
    challenge: bytes
    signature: bytes


@dataclass(frozen=True)
class VerifiedCard:
    card_number: str
    expiry: date
    issuer_key_id: bytes
    evidence: TapEvidence | None = None
    #: The card's public key (uncompressed point) from its certificate.
    public_point: bytes | None = None


def verify_tap(
    answer: SelectAnswer,
    challenge: bytes,
    signature: bytes,
    keyring: IssuerKeyring,
    today: date,
) -> VerifiedCard:
    """Check everything a tap proves; raise :class:`TapRejected` with the first failure."""
    return _verify(answer, challenge, signature, keyring, today, spec.tap_message)


def verify_sign_in(
    answer: SelectAnswer,
    challenge: bytes,
    signature: bytes,
    keyring: IssuerKeyring,
    today: date,
) -> VerifiedCard:
    """As :func:`verify_tap`, for a card + PIN sign-in: the signature must be over
    ``LABEL_SIGN_IN``, which the card only makes after the PIN was verified. A tap's
    signature (``LABEL_TAP``) fails here as ``not_genuine``, and the other way round."""
    return _verify(answer, challenge, signature, keyring, today, spec.sign_in_message)


def _verify(
    answer: SelectAnswer,
    challenge: bytes,
    signature: bytes,
    keyring: IssuerKeyring,
    today: date,
    signed: Callable[[bytes, bytes], bytes],
) -> VerifiedCard:
    if not answer.locked or answer.card_number is None or answer.expiry is None:
        raise TapRejected(Reason.NOT_ISSUED)
    number = answer.card_number
    if not has_valid_check_digit(number):
        raise TapRejected(Reason.BAD_CHECK_DIGIT, card_number=number)
    try:
        certificate = cert.decode(answer.certificate or b"")
    except cert.CertificateError as exc:
        raise TapRejected(Reason.BAD_CERTIFICATE, str(exc), number) from exc
    issuer = keyring.get(certificate.issuer_key_id)
    if issuer is None:
        raise TapRejected(
            Reason.UNKNOWN_ISSUER, f"key id {certificate.issuer_key_id.hex()}", number
        )
    if not certificate.signed_by(issuer.public_key):
        raise TapRejected(Reason.BAD_CERTIFICATE, "issuer signature does not verify", number)
    if certificate.card_number != number or certificate.expiry != answer.expiry:
        raise TapRejected(Reason.BAD_CERTIFICATE, "certificate names other card data", number)
    if certificate.expiry < today:
        raise TapRejected(Reason.EXPIRED, f"expired {certificate.expiry.isoformat()}", number)
    message = signed(challenge, answer.card_data)
    if not cert.verify_der(certificate.public_key(), signature, message):
        raise TapRejected(Reason.NOT_GENUINE, card_number=number)
    evidence = TapEvidence(answer.raw, challenge, signature) if answer.raw else None
    return VerifiedCard(
        number,
        certificate.expiry,
        certificate.issuer_key_id,
        evidence,
        certificate.public_point,
    )


#: The first bytes of a reader's challenge: its clock, in milliseconds since the Unix
#: epoch (big-endian); the rest is random. The card signs whatever 16 bytes it is sent;
#: the online service uses the time to refuse an old answer replayed to it.
CHALLENGE_TIME_BYTES = 8


def new_challenge(now: float | None = None) -> bytes:
    """A fresh tap challenge: the reader's time (ms, 8 bytes) then 8 random bytes."""
    millis = int((datetime.now(UTC).timestamp() if now is None else now) * 1000)
    return millis.to_bytes(CHALLENGE_TIME_BYTES, "big") + secrets.token_bytes(
        spec.CHALLENGE_LENGTH - CHALLENGE_TIME_BYTES
    )


def challenge_time(challenge: bytes) -> float:
    """When the reader made ``challenge`` (seconds since the epoch, as its clock said)."""
    return int.from_bytes(challenge[:CHALLENGE_TIME_BYTES], "big") / 1000


def read_tap(
    connection: CardConnection, challenge: bytes | None = None
) -> tuple[SelectAnswer, bytes, bytes, int]:
    """A tap's two APDUs: the SELECT answer, the challenge, the card's signature over it,
    and the APDUs used. Raises :class:`TapRejected` for a card that was never finished, or
    the session's errors (:class:`~cardio.errors.NotAKentCardError` among them)."""
    session = KentCardSession(connection)
    if not session.info.locked:
        raise TapRejected(Reason.NOT_ISSUED)
    challenge = challenge if challenge is not None else new_challenge()
    signature = session.internal_authenticate(challenge)
    return session.info, challenge, signature, session.apdu_count


def authenticate(
    connection: CardConnection,
    keyring: IssuerKeyring,
    today: date,
    challenge: bytes | None = None,
) -> tuple[VerifiedCard, int]:
    """Run a tap over ``connection``: returns the verified card and the APDUs used.

    Raises :class:`TapRejected`, or the session's errors for cards that answer with a
    failing status word (:class:`~cardio.errors.NotAKentCardError` among them).
    """
    answer, challenge, signature, apdus = read_tap(connection, challenge)
    return verify_tap(answer, challenge, signature, keyring, today), apdus
