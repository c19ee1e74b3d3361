"""The session against the in-process virtual card: personalisation, taps, PIN, forgeries."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import pytest

from cardio import certificate as cert
from cardio import spec
from cardio.apdu import ApduError, CommandApdu
from cardio.errors import (
    AdminAuthenticationError,
    CardLockedError,
    InvalidPinError,
    NotAKentCardError,
    NotPersonalisedError,
    PinBlockedError,
)
from cardio.issuer import Issuer
from cardio.keyring import IssuerKeyring, IssuerPublicKey
from cardio.session import KentCardSession, card_data_tlvs
from cardio.verify import Reason, TapRejected, authenticate, new_challenge, verify_tap
from hardware.card_state import CardStateFile
from hardware.virtual_card import InProcessConnection, VirtualKentCard
from tests.cardio.conftest import CARD_NUMBER, EXPIRY, PIN, TODAY, MakeCard


def session_of(card: VirtualKentCard) -> KentCardSession:
    return KentCardSession(InProcessConnection(card))


def test_select_answers_card_data_and_certificate(card: VirtualKentCard, issuer: Issuer) -> None:
    info = session_of(card).info
    assert info.locked
    assert info.card_number == CARD_NUMBER
    assert info.expiry == EXPIRY
    certificate = cert.decode(info.certificate or b"")
    assert certificate.issuer_key_id == issuer.certificate_key_id
    assert certificate.signed_by(issuer.certificate_key.public_key())


def test_tap_takes_two_apdus(card: VirtualKentCard, issuer: Issuer) -> None:
    verified, apdus = authenticate(InProcessConnection(card), issuer.keyring(), TODAY)
    assert verified.card_number == CARD_NUMBER
    assert verified.issuer_key_id == issuer.certificate_key_id
    assert apdus == 2


def test_personalisation_is_closed_after_lock(card: VirtualKentCard, issuer: Issuer) -> None:
    session = session_of(card)
    with pytest.raises(CardLockedError) as caught:
        session.generate_key_pair(issuer.personalisation_key)
    assert caught.value.sw == 0x6985
    with pytest.raises(CardLockedError):
        session.lock(issuer.personalisation_key)


def test_personalisation_needs_the_issuer_key(issuer: Issuer, other_issuer: Issuer) -> None:
    card = VirtualKentCard.blank(issuer.personalisation_key.public_point)
    session = session_of(card)
    assert not session.info.locked
    with pytest.raises(AdminAuthenticationError) as caught:
        session.generate_key_pair(other_issuer.personalisation_key)
    assert "6982" in str(caught.value)
    assert card.state.private_key is None


def test_admin_command_without_fresh_challenge_is_refused(issuer: Issuer) -> None:
    """A recorded GENERATE KEY PAIR replayed after its challenge was used gets 6982."""
    card = VirtualKentCard.blank(issuer.personalisation_key.public_point)
    connection = InProcessConnection(card)
    session = KentCardSession(connection)
    challenge = session.get_challenge()
    signature = issuer.personalisation_key.sign(spec.admin_message(challenge, 0x46, 0, 0, b""))
    body = b"\x53\x00\x9e" + bytes([len(signature)]) + signature
    apdu = bytes([0x00, 0x46, 0x00, 0x00, len(body)]) + body + b"\x00"
    assert connection.transmit(apdu)[1] == 0x9000
    assert connection.transmit(apdu)[1] == 0x6982


def test_tap_before_personalisation_is_refused(issuer: Issuer) -> None:
    card = VirtualKentCard.blank(issuer.personalisation_key.public_point)
    session = session_of(card)
    with pytest.raises(NotPersonalisedError):
        session.internal_authenticate(new_challenge())
    with pytest.raises(TapRejected) as caught:
        authenticate(InProcessConnection(card), issuer.keyring(), TODAY)
    assert caught.value.reason is Reason.NOT_ISSUED


def test_lock_refused_until_personalised(issuer: Issuer) -> None:
    session = session_of(VirtualKentCard.blank(issuer.personalisation_key.public_point))
    with pytest.raises(NotPersonalisedError):
        session.lock(issuer.personalisation_key)


def test_other_application_is_not_a_kent_card() -> None:
    class OtherCard:
        def transmit(self, apdu: bytes) -> tuple[bytes, int]:
            return b"", 0x6A82

        def disconnect(self) -> None:
            pass

    with pytest.raises(NotAKentCardError) as caught:
        KentCardSession(OtherCard())
    assert str(caught.value).startswith("6A82")


# -- PIN -----------------------------------------------------------------------------------


def test_pin_verify_and_change(card: VirtualKentCard) -> None:
    session = session_of(card)
    assert session.pin_tries_left() == 3
    session.verify_pin(PIN)
    assert session.pin_tries_left() is None
    session.change_pin(PIN, "97531")
    session = session_of(card)
    with pytest.raises(InvalidPinError):
        session.verify_pin(PIN)
    session.verify_pin("97531")


def test_three_wrong_pins_block_and_the_block_survives_power_off(
    card: VirtualKentCard, tmp_path: Path
) -> None:
    session = session_of(card)
    for tries_left in (2, 1, 0):
        with pytest.raises(InvalidPinError) as caught:
            session.verify_pin("0000")
        assert caught.value.tries_left == tries_left
    with pytest.raises(PinBlockedError) as blocked:
        session.verify_pin(PIN)
    assert str(blocked.value) == "6983 PIN blocked: go to a Gateway or library to unblock it"
    # Power off: a new card object from the same state file.
    card.power_off()
    reloaded = VirtualKentCard.from_file(CardStateFile(tmp_path / "card.json"))
    with pytest.raises(PinBlockedError):
        session_of(reloaded).verify_pin(PIN)
    assert session_of(reloaded).pin_tries_left() == 0


def test_unblock_only_with_the_issuer_key(
    card: VirtualKentCard, issuer: Issuer, other_issuer: Issuer
) -> None:
    session = session_of(card)
    for _ in range(3):
        with pytest.raises(InvalidPinError):
            session.verify_pin("0000")
    with pytest.raises(AdminAuthenticationError):
        session.unblock_pin(other_issuer.personalisation_key)
    with pytest.raises(PinBlockedError):
        session.verify_pin(PIN)
    session.unblock_pin(issuer.personalisation_key)
    session.verify_pin(PIN)
    # A Gateway may also set a new PIN while unblocking.
    session.set_pin(issuer.personalisation_key, "86420")
    session.verify_pin("86420")


def test_pin_payload_is_redacted_in_debug_log(
    card: VirtualKentCard, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG", logger="cardio.protocol")
    session_of(card).verify_pin(PIN)
    traffic = "\n".join(record.getMessage() for record in caplog.records)
    assert "00200080 <8 bytes redacted>" in traffic
    assert spec.pin_block(PIN).hex() not in traffic


# -- forgeries -----------------------------------------------------------------------------


def rejection(card: VirtualKentCard, keyring: IssuerKeyring, today: date = TODAY) -> TapRejected:
    with pytest.raises(TapRejected) as caught:
        authenticate(InProcessConnection(card), keyring, today)
    return caught.value


def test_copied_card_number_and_certificate_with_another_key_is_rejected(
    make_card: MakeCard, issuer: Issuer
) -> None:
    genuine = make_card()
    clone = make_card(name="clone.json")  # same number, its own key and certificate
    clone.state.certificate = genuine.state.certificate  # copy the genuine certificate
    assert rejection(clone, issuer.keyring()).reason is Reason.NOT_GENUINE


def test_replayed_internal_authenticate_answer_is_rejected(
    card: VirtualKentCard, issuer: Issuer
) -> None:
    session = session_of(card)
    recorded_challenge = new_challenge()
    recorded = session.internal_authenticate(recorded_challenge)
    verify_tap(session.info, recorded_challenge, recorded, issuer.keyring(), TODAY)
    with pytest.raises(TapRejected) as caught:
        verify_tap(session.info, new_challenge(), recorded, issuer.keyring(), TODAY)
    assert caught.value.reason is Reason.NOT_GENUINE


def test_expired_card_is_rejected(make_card: MakeCard, issuer: Issuer) -> None:
    card = make_card(expiry=date(2025, 12, 31))
    caught = rejection(card, issuer.keyring())
    assert caught.reason is Reason.EXPIRED
    assert "2025-12-31" in str(caught)
    # The last day of validity still works.
    authenticate(InProcessConnection(card), issuer.keyring(), date(2025, 12, 31))


def test_certificate_from_unknown_issuer_key_is_rejected(
    make_card: MakeCard, issuer: Issuer, other_issuer: Issuer
) -> None:
    card = make_card(by=other_issuer)
    assert rejection(card, issuer.keyring()).reason is Reason.UNKNOWN_ISSUER


def test_wrong_check_digit_is_rejected(make_card: MakeCard, issuer: Issuer, tmp_path: Path) -> None:
    # The issuer's tooling refuses such numbers, so forge it by signing directly.
    wrong = CARD_NUMBER[:-1] + str((int(CARD_NUMBER[-1]) + 1) % 10)
    card = make_card()
    point = cert.point_of(card._card_key().public_key())
    forged = cert.issue(issuer.certificate_key, wrong, EXPIRY, point)
    card.state.card_data = card_data_tlvs(wrong, EXPIRY)
    card.state.certificate = forged.encode()
    assert rejection(card, issuer.keyring()).reason is Reason.BAD_CHECK_DIGIT


def test_certificate_forged_with_key_id_of_trusted_issuer_is_rejected(
    card: VirtualKentCard, issuer: Issuer, other_issuer: Issuer
) -> None:
    genuine = cert.decode(card.state.certificate or b"")
    forged = cert.issue(other_issuer.certificate_key, CARD_NUMBER, EXPIRY, genuine.public_point)
    body = cert.encode_body(issuer.certificate_key_id, CARD_NUMBER, EXPIRY, genuine.public_point)
    forged = dataclasses.replace(forged, body=body)
    card.state.certificate = forged.encode()
    assert rejection(card, issuer.keyring()).reason is Reason.BAD_CERTIFICATE


def test_rotated_keyring_accepts_old_and_new_issuer_keys(
    make_card: MakeCard, issuer: Issuer, other_issuer: Issuer
) -> None:
    keyring = IssuerKeyring(
        [
            IssuerPublicKey(
                issuer.certificate_key_id, issuer.certificate_key.public_key(), "verify-only"
            ),
            IssuerPublicKey(
                other_issuer.certificate_key_id, other_issuer.certificate_key.public_key()
            ),
        ]
    )
    for index, by in enumerate((issuer, other_issuer)):
        verified, _ = authenticate(
            InProcessConnection(make_card(by=by, name=f"{index}.json")), keyring, TODAY
        )
        assert verified.issuer_key_id == by.certificate_key_id
    assert IssuerKeyring.from_json(keyring.to_json()).to_json() == keyring.to_json()


def test_apdu_error_for_unknown_status(card: VirtualKentCard) -> None:
    session = session_of(card)
    with pytest.raises(ApduError) as caught:
        session.protocol.send(CommandApdu(0, 0x99, 0, 0))
    assert caught.value.sw == 0x6D00
    assert "instruction not supported" in str(caught.value)
