"""The session layer: one method per Kent Card instruction.

The constructor selects the application, so a session always knows the card's life cycle
and card data. Status words the session understands become domain errors
(:mod:`cardio.errors`); the rest propagate as :class:`~cardio.apdu.ApduError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Protocol

from cardio import spec, tlv
from cardio.apdu import ApduError, CommandApdu
from cardio.cardnumber import CardNumberError, from_bcd, to_bcd
from cardio.connection import CardConnection
from cardio.dates import decode_expiry, encode_expiry
from cardio.errors import (
    AdminAuthenticationError,
    CardLockedError,
    InvalidPinError,
    MalformedResponseError,
    NotAKentCardError,
    NotPersonalisedError,
    PinBlockedError,
    PinNotVerifiedError,
)
from cardio.protocol import ApduProtocol


class AdminSigner(Protocol):
    """Holds the issuer's personalisation key; signs one administrative command."""

    def sign(self, message: bytes) -> bytes: ...


@dataclass(frozen=True)
class SelectAnswer:
    """What SELECT returns: the life cycle, and once locked the card data and certificate."""

    version: int
    life_cycle: int
    card_number: str | None = None
    expiry: date | None = None
    certificate: bytes | None = None
    card_data: bytes = b""  # the 5A and 5F24 TLVs as the card encoded them (it signs these)
    raw: bytes = b""  # the whole answer, for a reader that sends the tap on to be checked online

    @property
    def locked(self) -> bool:
        return self.life_cycle == spec.LifeCycle.LOCKED


def card_data_tlvs(card_number: str, expiry: date) -> bytes:
    return tlv.encode(spec.TAG_CARD_NUMBER, to_bcd(card_number)) + tlv.encode(
        spec.TAG_EXPIRY, encode_expiry(expiry)
    )


def parse_select_answer(data: bytes) -> SelectAnswer:
    """Parse the FCI strictly; raise :class:`MalformedResponseError` on anything odd."""
    try:
        fci = tlv.to_dict(tlv.parse_one(data, spec.TAG_FCI).children())
        if fci.get(spec.TAG_DF_NAME) != spec.AID:
            raise MalformedResponseError("FCI names another application")
        items = tlv.parse(tlv.require(fci, spec.TAG_FCI_PROPRIETARY))
        fields = tlv.to_dict(items)
        version = tlv.require(fields, spec.TAG_VERSION)
        life_cycle = tlv.require(fields, spec.TAG_LIFE_CYCLE)
        if len(version) != 1 or len(life_cycle) != 1:
            raise MalformedResponseError("version and life cycle are one byte each")
        if life_cycle[0] != spec.LifeCycle.LOCKED:
            return SelectAnswer(version[0], life_cycle[0], raw=data)
        number_raw = tlv.require(fields, spec.TAG_CARD_NUMBER)
        expiry_raw = tlv.require(fields, spec.TAG_EXPIRY)
        certificate = tlv.require(fields, spec.TAG_CERTIFICATE)
        card_data = b"".join(
            item.encode() for item in items if item.tag in (spec.TAG_CARD_NUMBER, spec.TAG_EXPIRY)
        )
        return SelectAnswer(
            version=version[0],
            life_cycle=life_cycle[0],
            card_number=from_bcd(number_raw),
            expiry=decode_expiry(expiry_raw),
            certificate=tlv.encode(spec.TAG_CERTIFICATE, certificate),
            card_data=card_data,
            raw=data,
        )
    except (tlv.TlvError, CardNumberError, ValueError) as exc:
        if isinstance(exc, MalformedResponseError):
            raise
        raise MalformedResponseError(f"SELECT answer: {exc}") from exc


class KentCardSession:
    """The Kent Card application on one card connection."""

    def __init__(self, connection: CardConnection) -> None:
        self.protocol = ApduProtocol(connection)
        self.info = self.select()

    @property
    def apdu_count(self) -> int:
        return self.protocol.apdu_count

    def _send(self, command: CommandApdu) -> bytes:
        try:
            return self.protocol.send(command)
        except ApduError as exc:
            raise self._domain_error(command, exc.sw) from exc

    def _domain_error(self, command: CommandApdu, sw: int) -> ApduError:
        if sw & 0xFFF0 == 0x63C0:
            return InvalidPinError(sw)
        if sw == 0x6983:
            return PinBlockedError(sw)
        admin = command.ins in (
            spec.INS_GENERATE_KEY_PAIR,
            spec.INS_PUT_DATA,
            spec.INS_ACTIVATE,
            spec.INS_RESET_RETRY_COUNTER,
        )
        if admin and sw == 0x6982:
            return AdminAuthenticationError(sw)
        if command.ins == spec.INS_INTERNAL_AUTHENTICATE and sw == 0x6982:
            return PinNotVerifiedError(sw)
        if sw == 0x6985 and command.ins != spec.INS_RESET_RETRY_COUNTER:
            if admin and self.info.locked:
                return CardLockedError(sw)
            if not self.info.locked:
                return NotPersonalisedError(sw)
        return ApduError(sw)

    # -- instructions -------------------------------------------------------------------

    def select(self) -> SelectAnswer:
        command = CommandApdu(
            spec.CLA, spec.INS_SELECT, spec.P1_SELECT_BY_NAME, spec.P2_SELECT_FCI, spec.AID, 256
        )
        try:
            data = self.protocol.send(command)
        except ApduError as exc:
            raise NotAKentCardError(exc.sw, "no Kent Card application") from exc
        try:
            return parse_select_answer(data)
        except MalformedResponseError as exc:
            raise NotAKentCardError(0x9000, str(exc)) from exc

    def internal_authenticate(self, challenge: bytes, key: int = spec.P2_AUTH_TAP) -> bytes:
        """The card's DER ECDSA signature over LABEL_TAP || challenge || card data."""
        if len(challenge) != spec.CHALLENGE_LENGTH:
            raise ValueError(f"challenge is {spec.CHALLENGE_LENGTH} bytes")
        data = self._send(
            CommandApdu(spec.CLA, spec.INS_INTERNAL_AUTHENTICATE, 0, key, challenge, 256)
        )
        try:
            return tlv.parse_one(data, spec.TAG_SIGNATURE).value
        except tlv.TlvError as exc:
            raise MalformedResponseError(f"INTERNAL AUTHENTICATE answer: {exc}") from exc

    def sign_in_authenticate(self, challenge: bytes) -> bytes:
        """The signature over LABEL_SIGN_IN || challenge || card data, for a card + PIN
        sign-in; the card answers it once per successful :meth:`verify_pin`
        (:class:`~cardio.errors.PinNotVerifiedError` otherwise)."""
        return self.internal_authenticate(challenge, spec.P2_AUTH_SIGN_IN)

    def verify_pin(self, pin: str) -> None:
        self._send(
            CommandApdu(spec.CLA, spec.INS_VERIFY, 0, spec.P2_PIN_REFERENCE, spec.pin_block(pin))
        )

    def pin_tries_left(self) -> int | None:
        """Tries left, or None when the PIN is verified in this session."""
        try:
            self._send(CommandApdu(spec.CLA, spec.INS_VERIFY, 0, spec.P2_PIN_REFERENCE))
        except InvalidPinError as exc:
            return exc.tries_left
        except PinBlockedError:
            return 0
        return None

    def change_pin(self, old: str, new: str) -> None:
        data = spec.pin_block(old) + spec.pin_block(new)
        self._send(
            CommandApdu(spec.CLA, spec.INS_CHANGE_REFERENCE_DATA, 0, spec.P2_PIN_REFERENCE, data)
        )

    def get_challenge(self) -> bytes:
        data = self._send(
            CommandApdu(spec.CLA, spec.INS_GET_CHALLENGE, 0, 0, ne=spec.CHALLENGE_LENGTH)
        )
        if len(data) != spec.CHALLENGE_LENGTH:
            raise MalformedResponseError("GET CHALLENGE answer has the wrong length")
        return data

    # -- administrative (signed by the issuer's personalisation key) ---------------------

    def _admin(
        self, signer: AdminSigner, ins: int, p1: int, p2: int, payload: bytes, ne: int = 0
    ) -> bytes:
        challenge = self.get_challenge()
        signature = signer.sign(spec.admin_message(challenge, ins, p1, p2, payload))
        data = tlv.encode(spec.TAG_SIGNED_PAYLOAD, payload) + tlv.encode(
            spec.TAG_SIGNATURE, signature
        )
        return self._send(CommandApdu(spec.CLA, ins, p1, p2, data, ne))

    def generate_key_pair(self, signer: AdminSigner) -> bytes:
        """Make the card generate its key pair; returns the uncompressed public point."""
        data = self._admin(signer, spec.INS_GENERATE_KEY_PAIR, 0, 0, b"", 256)
        try:
            template = tlv.parse_one(data, spec.TAG_PUBLIC_KEY).children()
            point = tlv.require(tlv.to_dict(template), spec.TAG_EC_POINT)
        except tlv.TlvError as exc:
            raise MalformedResponseError(f"GENERATE KEY PAIR answer: {exc}") from exc
        if len(point) != spec.EC_POINT_LENGTH:
            raise MalformedResponseError("public key is not an uncompressed P-256 point")
        return point

    def put_card_data(
        self, signer: AdminSigner, card_number: str, expiry: date, certificate: bytes
    ) -> None:
        payload = card_data_tlvs(card_number, expiry) + certificate
        p1, p2 = spec.P1P2_PUT_DATA_CARD
        self._admin(signer, spec.INS_PUT_DATA, p1, p2, payload)

    def set_pin(self, signer: AdminSigner, pin: str) -> None:
        """SET PIN (personalisation) and unblock-with-new-PIN at a Gateway are one command."""
        self._admin(
            signer,
            spec.INS_RESET_RETRY_COUNTER,
            spec.P1_RRC_NEW_PIN,
            spec.P2_PIN_REFERENCE,
            spec.pin_block(pin),
        )

    def unblock_pin(self, signer: AdminSigner) -> None:
        """Reset the try counter, keeping the resident's PIN."""
        self._admin(
            signer, spec.INS_RESET_RETRY_COUNTER, spec.P1_RRC_RESET_ONLY, spec.P2_PIN_REFERENCE, b""
        )

    def lock(self, signer: AdminSigner) -> None:
        """Close personalisation for good (ACTIVATE)."""
        self._admin(signer, spec.INS_ACTIVATE, 0, 0, b"")
        self.info = self.select()
