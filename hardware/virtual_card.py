"""The virtual Kent Card: the card side of docs/card-protocol.md, as a Java Card applet would do it.

``process`` takes any bytes and always answers a response APDU: a status word for anything
it does not like, never an exception. Persistent state lives in :class:`CardState` (saved
through :class:`CardStateFile` when given); volatile state (selection, PIN verified, the
challenge for an administrative command) is lost on power-off and reset.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import threading
from typing import Protocol

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from cardio import certificate as cert
from cardio import spec, tlv
from cardio.apdu import SW, ApduFormatError, CommandApdu
from cardio.connection import CardRemovedError, split_response
from hardware.card_state import CardState, CardStateFile

logger = logging.getLogger(__name__)

_HISTORICAL = b"KENTCARD01"


def _atr() -> bytes:
    """PC/SC contactless-style ATR: 3B 8n 80 01, historical bytes, then the TCK."""
    body = bytes([0x80 | len(_HISTORICAL), 0x80, 0x01]) + _HISTORICAL
    tck = 0
    for byte in body:
        tck ^= byte
    return b"\x3b" + body + bytes([tck])


ATR = _atr()


class CardStatus(Exception):
    """Raised inside the card to answer with a status word."""

    def __init__(self, sw: int) -> None:
        super().__init__(f"{sw:04X}")
        self.sw = sw


class VirtualKentCard:
    def __init__(self, state: CardState, store: CardStateFile | None = None) -> None:
        self.state = state
        self.store = store
        self._key: ec.EllipticCurvePrivateKey | None = None
        self._admin_key = cert.public_key_from_point(state.admin_public_point)
        self.power_on()

    @classmethod
    def blank(
        cls, admin_public_point: bytes, store: CardStateFile | None = None
    ) -> VirtualKentCard:
        """A card fresh from the factory with the application installed."""
        card = cls(CardState(admin_public_point=admin_public_point), store)
        card._persist()
        return card

    @classmethod
    def from_file(cls, store: CardStateFile) -> VirtualKentCard:
        return cls(store.load(), store)

    @property
    def atr(self) -> bytes:
        return ATR

    # -- power -----------------------------------------------------------------------------

    def power_on(self) -> None:
        self.selected = False
        self.pin_verified = False
        self.admin_challenge: bytes | None = None
        self.pending = b""

    power_off = power_on
    reset = power_on

    def _persist(self) -> None:
        if self.store is not None:
            self.store.save(self.state)

    # -- APDU entry point ------------------------------------------------------------------

    def process(self, apdu: bytes) -> bytes:
        """Answer one command APDU; never raises."""
        try:
            command = CommandApdu.decode(apdu)
        except ApduFormatError:
            return SW.WRONG_LENGTH.to_bytes(2, "big")
        try:
            data, sw = self._dispatch(command)
        except CardStatus as status:
            data, sw = b"", status.sw
        except Exception:  # a card never crashes: log it and say "no precise diagnosis"
            logger.exception("virtual card failed on INS %02X", command.ins)
            data, sw = b"", SW.NO_PRECISE_DIAGNOSIS
        if command.ins != spec.INS_GET_RESPONSE:
            self.pending = b""
        if sw == SW.OK and data and len(data) > command.ne:
            # Le absent or too short: keep the rest for GET RESPONSE (61XX).
            self.pending = data[command.ne :]
            data = data[: command.ne]
            sw = 0x6100 | (min(len(self.pending), 256) & 0xFF)
        return data + int(sw).to_bytes(2, "big")

    def _dispatch(self, command: CommandApdu) -> tuple[bytes, int]:
        cla = command.cla
        if cla & 0x80:
            raise CardStatus(SW.CLA_NOT_SUPPORTED)
        if cla & 0x0C:
            raise CardStatus(SW.SECURE_MESSAGING_NOT_SUPPORTED)
        if cla & 0x03:
            raise CardStatus(SW.LOGICAL_CHANNEL_NOT_SUPPORTED)
        if cla & 0x10:
            raise CardStatus(SW.COMMAND_CHAINING_NOT_SUPPORTED)
        if cla != 0x00:
            raise CardStatus(SW.CLA_NOT_SUPPORTED)
        ins = command.ins
        if ins == spec.INS_SELECT:
            return self._select(command)
        if ins == spec.INS_GET_RESPONSE:
            return self._get_response(command)
        handler = self._handlers.get(ins)
        if handler is None:
            raise CardStatus(SW.INS_NOT_SUPPORTED)
        if not self.selected:
            raise CardStatus(SW.CONDITIONS_NOT_SATISFIED)
        return handler(self, command), SW.OK

    # -- helpers ---------------------------------------------------------------------------

    @staticmethod
    def _p1p2(command: CommandApdu, p1: int, p2: int) -> None:
        if (command.p1, command.p2) != (p1, p2):
            raise CardStatus(SW.INCORRECT_P1P2)

    @property
    def locked(self) -> bool:
        return self.state.life_cycle == spec.LifeCycle.LOCKED

    def _require_personalising(self) -> None:
        if self.locked:
            raise CardStatus(SW.CONDITIONS_NOT_SATISFIED)

    def _card_key(self) -> ec.EllipticCurvePrivateKey:
        if self.state.private_key is None:
            raise CardStatus(SW.CONDITIONS_NOT_SATISFIED)
        if self._key is None:
            scalar = int.from_bytes(self.state.private_key, "big")
            self._key = ec.derive_private_key(scalar, ec.SECP256R1())
        return self._key

    def _fci(self) -> bytes:
        fields = [
            tlv.encode(spec.TAG_VERSION, bytes([spec.APPLICATION_VERSION])),
            tlv.encode(spec.TAG_LIFE_CYCLE, bytes([self.state.life_cycle])),
        ]
        if self.locked and self.state.card_data and self.state.certificate:
            fields += [self.state.card_data, self.state.certificate]
        proprietary = tlv.encode(spec.TAG_FCI_PROPRIETARY, b"".join(fields))
        return tlv.encode(spec.TAG_FCI, tlv.encode(spec.TAG_DF_NAME, spec.AID) + proprietary)

    def _admin_payload(self, command: CommandApdu) -> bytes:
        """Check the issuer's signature on an administrative command; return its payload.

        The card's challenge is used once whatever happens, so a recorded command can never
        be replayed, not even to this card.
        """
        challenge, self.admin_challenge = self.admin_challenge, None
        try:
            items = tlv.parse(command.data)
        except tlv.TlvError:
            raise CardStatus(SW.WRONG_DATA) from None
        if [item.tag for item in items] != [spec.TAG_SIGNED_PAYLOAD, spec.TAG_SIGNATURE]:
            raise CardStatus(SW.WRONG_DATA)
        payload, signature = items[0].value, items[1].value
        if challenge is None:
            raise CardStatus(SW.SECURITY_STATUS_NOT_SATISFIED)
        message = spec.admin_message(challenge, command.ins, command.p1, command.p2, payload)
        if not cert.verify_der(self._admin_key, signature, message):
            raise CardStatus(SW.SECURITY_STATUS_NOT_SATISFIED)
        return payload

    def _check_pin(self, block: bytes) -> None:
        """Spend a try, then compare; on success restore the tries (both persisted)."""
        if self.state.pin_block is None:
            raise CardStatus(SW.REFERENCE_NOT_FOUND)
        if self.state.pin_tries_left <= 0:
            raise CardStatus(SW.AUTH_METHOD_BLOCKED)
        self.state.pin_tries_left -= 1
        self._persist()
        if not hmac.compare_digest(block, self.state.pin_block):
            self.pin_verified = False
            raise CardStatus(0x63C0 | self.state.pin_tries_left)
        self.state.pin_tries_left = spec.PIN_TRIES
        self._persist()
        self.pin_verified = True

    # -- instructions ----------------------------------------------------------------------

    def _select(self, command: CommandApdu) -> tuple[bytes, int]:
        if command.p1 != spec.P1_SELECT_BY_NAME or command.p2 not in (
            spec.P2_SELECT_FCI,
            spec.P2_SELECT_NO_RESPONSE,
        ):
            raise CardStatus(SW.INCORRECT_P1P2)
        self.power_on()
        if command.data != spec.AID:
            raise CardStatus(SW.FILE_NOT_FOUND)
        self.selected = True
        if command.p2 == spec.P2_SELECT_NO_RESPONSE:
            return b"", SW.OK
        return self._fci(), SW.OK

    def _get_response(self, command: CommandApdu) -> tuple[bytes, int]:
        self._p1p2(command, 0, 0)
        if not self.pending:
            raise CardStatus(SW.CONDITIONS_NOT_SATISFIED)
        data, self.pending = self.pending, b""
        return data, SW.OK

    def _internal_authenticate(self, command: CommandApdu) -> bytes:
        if command.p1 != 0 or command.p2 not in (spec.P2_AUTH_TAP, spec.P2_AUTH_SIGN_IN):
            raise CardStatus(SW.INCORRECT_P1P2)
        if not self.locked or self.state.card_data is None:
            raise CardStatus(SW.CONDITIONS_NOT_SATISFIED)
        if len(command.data) != spec.CHALLENGE_LENGTH:
            raise CardStatus(SW.WRONG_LENGTH)
        if command.p2 == spec.P2_AUTH_SIGN_IN:
            # The holder's key use: only after VERIFY in this session, and one signature per
            # VERIFY (PIN-always), so a PC left with the card in cannot sign in again.
            if not self.pin_verified:
                raise CardStatus(SW.SECURITY_STATUS_NOT_SATISFIED)
            self.pin_verified = False
            message = spec.sign_in_message(command.data, self.state.card_data)
        else:
            message = spec.tap_message(command.data, self.state.card_data)
        signature = self._card_key().sign(message, ec.ECDSA(hashes.SHA256()))
        return tlv.encode(spec.TAG_SIGNATURE, signature)

    def _verify(self, command: CommandApdu) -> bytes:
        self._p1p2(command, 0, spec.P2_PIN_REFERENCE)
        if self.state.pin_block is None:
            raise CardStatus(SW.REFERENCE_NOT_FOUND)
        if not command.data:
            if self.state.pin_tries_left <= 0:
                raise CardStatus(SW.AUTH_METHOD_BLOCKED)
            if not self.pin_verified:
                raise CardStatus(0x63C0 | self.state.pin_tries_left)
            return b""
        if len(command.data) != spec.PIN_BLOCK_LENGTH:
            raise CardStatus(SW.WRONG_LENGTH)
        if not spec.is_pin_block(command.data):
            raise CardStatus(SW.WRONG_DATA)
        self._check_pin(command.data)
        return b""

    def _change_pin(self, command: CommandApdu) -> bytes:
        self._p1p2(command, 0, spec.P2_PIN_REFERENCE)
        if len(command.data) != 2 * spec.PIN_BLOCK_LENGTH:
            raise CardStatus(SW.WRONG_LENGTH)
        old, new = command.data[: spec.PIN_BLOCK_LENGTH], command.data[spec.PIN_BLOCK_LENGTH :]
        if not (spec.is_pin_block(old) and spec.is_pin_block(new)):
            raise CardStatus(SW.WRONG_DATA)
        self._check_pin(old)
        self.state.pin_block = new
        self._persist()
        return b""

    def _get_challenge(self, command: CommandApdu) -> bytes:
        self._p1p2(command, 0, 0)
        if command.data or command.ne != spec.CHALLENGE_LENGTH:
            raise CardStatus(SW.WRONG_LENGTH)
        self.admin_challenge = secrets.token_bytes(spec.CHALLENGE_LENGTH)
        return self.admin_challenge

    def _generate_key_pair(self, command: CommandApdu) -> bytes:
        self._p1p2(command, 0, 0)
        self._require_personalising()
        if self._admin_payload(command):
            raise CardStatus(SW.WRONG_DATA)
        key = ec.generate_private_key(ec.SECP256R1())
        self._key = key
        self.state.private_key = key.private_numbers().private_value.to_bytes(32, "big")
        self.state.card_data = self.state.certificate = None  # a new key voids the old data
        self._persist()
        point = cert.point_of(key.public_key())
        return tlv.encode(spec.TAG_PUBLIC_KEY, tlv.encode(spec.TAG_EC_POINT, point))

    def _put_data(self, command: CommandApdu) -> bytes:
        self._p1p2(command, *spec.P1P2_PUT_DATA_CARD)
        self._require_personalising()
        payload = self._admin_payload(command)
        own_point = cert.point_of(self._card_key().public_key())
        try:
            items = tlv.parse(payload)
            tags = [item.tag for item in items]
            if tags != [spec.TAG_CARD_NUMBER, spec.TAG_EXPIRY, spec.TAG_CERTIFICATE]:
                raise CardStatus(SW.WRONG_DATA)
            certificate = cert.decode(items[2].encode())
        except (tlv.TlvError, cert.CertificateError):
            raise CardStatus(SW.WRONG_DATA) from None
        card_data = items[0].encode() + items[1].encode()
        expected = tlv.parse(certificate.body)[0].children()
        by_tag = {item.tag: item.value for item in expected}
        if (
            certificate.public_point != own_point
            or by_tag.get(spec.TAG_CARD_NUMBER) != items[0].value
            or by_tag.get(spec.TAG_EXPIRY) != items[1].value
        ):
            raise CardStatus(SW.WRONG_DATA)
        self.state.card_data = card_data
        self.state.certificate = items[2].encode()
        self._persist()
        return b""

    def _reset_retry_counter(self, command: CommandApdu) -> bytes:
        if command.p2 != spec.P2_PIN_REFERENCE or command.p1 not in (
            spec.P1_RRC_NEW_PIN,
            spec.P1_RRC_RESET_ONLY,
        ):
            raise CardStatus(SW.INCORRECT_P1P2)
        payload = self._admin_payload(command)
        if command.p1 == spec.P1_RRC_NEW_PIN:
            if not spec.is_pin_block(payload):
                raise CardStatus(SW.WRONG_DATA)
            self.state.pin_block = payload
        else:
            if payload:
                raise CardStatus(SW.WRONG_DATA)
            if self.state.pin_block is None:
                raise CardStatus(SW.REFERENCE_NOT_FOUND)
        self.state.pin_tries_left = spec.PIN_TRIES
        self.pin_verified = False
        self._persist()
        return b""

    def _activate(self, command: CommandApdu) -> bytes:
        self._p1p2(command, 0, 0)
        self._require_personalising()
        if self._admin_payload(command):
            raise CardStatus(SW.WRONG_DATA)
        if None in (self.state.private_key, self.state.card_data, self.state.certificate) or (
            self.state.pin_block is None
        ):
            raise CardStatus(SW.CONDITIONS_NOT_SATISFIED)
        self.state.life_cycle = spec.LifeCycle.LOCKED
        self._persist()
        return b""

    _handlers = {
        spec.INS_INTERNAL_AUTHENTICATE: _internal_authenticate,
        spec.INS_VERIFY: _verify,
        spec.INS_CHANGE_REFERENCE_DATA: _change_pin,
        spec.INS_GET_CHALLENGE: _get_challenge,
        spec.INS_GENERATE_KEY_PAIR: _generate_key_pair,
        spec.INS_PUT_DATA: _put_data,
        spec.INS_RESET_RETRY_COUNTER: _reset_retry_counter,
        spec.INS_ACTIVATE: _activate,
    }


class Card(Protocol):
    """What a reader can talk to: the virtual card, or a card double that breaks the rules.

    ``process`` answers one command APDU; ``None`` means the card stays silent.
    """

    @property
    def atr(self) -> bytes: ...

    def process(self, apdu: bytes) -> bytes | None: ...

    def power_on(self) -> None: ...

    def power_off(self) -> None: ...


class InProcessConnection:
    """A :class:`cardio.connection.CardConnection` straight to a virtual card (unit tests).

    A card that stays silent blocks :meth:`transmit` until :meth:`remove` takes it out of
    the field (then :class:`~cardio.connection.CardRemovedError`), as pcscd does with a
    silent card in a vpcd reader.
    """

    def __init__(self, card: Card) -> None:
        self.card = card
        self.transmitted = 0
        self.removed = threading.Event()

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        self.transmitted += 1
        response = self.card.process(apdu)
        if response is None:
            self.removed.wait()
            raise CardRemovedError("the silent card was taken out of the field")
        return split_response(response)

    def remove(self) -> None:
        self.removed.set()

    def disconnect(self) -> None:
        """Leave the card powered, as SCARD_LEAVE_CARD does."""
