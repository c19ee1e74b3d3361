"""The PIN-gated sign-in signature (INTERNAL AUTHENTICATE, P2 01) on the virtual card."""

from __future__ import annotations

import pytest

from cardio import spec
from cardio.apdu import ApduError
from cardio.errors import InvalidPinError, PinNotVerifiedError
from cardio.issuer import Issuer
from cardio.session import KentCardSession
from cardio.signin import sign_with_card
from cardio.verify import Reason, TapRejected, new_challenge, verify_sign_in, verify_tap
from hardware.virtual_card import InProcessConnection, VirtualKentCard
from tests.cardio.conftest import PIN, TODAY


def test_the_card_signs_in_only_after_verify_and_once_per_verify(
    card: VirtualKentCard, issuer: Issuer
) -> None:
    session = KentCardSession(InProcessConnection(card))
    challenge = new_challenge()
    with pytest.raises(PinNotVerifiedError) as refused:
        session.sign_in_authenticate(challenge)
    assert refused.value.sw == 0x6982
    session.verify_pin(PIN)
    signature = session.sign_in_authenticate(challenge)
    verified = verify_sign_in(session.info, challenge, signature, issuer.keyring(), TODAY)
    assert verified.card_number == session.info.card_number
    with pytest.raises(PinNotVerifiedError):  # PIN always: one signature per VERIFY
        session.sign_in_authenticate(new_challenge())


def test_tap_and_sign_in_signatures_never_stand_in_for_each_other(
    card: VirtualKentCard, issuer: Issuer
) -> None:
    challenge = new_challenge()
    evidence = sign_with_card(InProcessConnection(card), PIN, challenge)
    session = KentCardSession(InProcessConnection(card))
    tap = session.internal_authenticate(challenge)
    keyring = issuer.keyring()
    with pytest.raises(TapRejected) as as_sign_in:
        verify_sign_in(session.info, challenge, tap, keyring, TODAY)
    assert as_sign_in.value.reason is Reason.NOT_GENUINE
    with pytest.raises(TapRejected) as as_tap:
        verify_tap(session.info, challenge, evidence.signature, keyring, TODAY)
    assert as_tap.value.reason is Reason.NOT_GENUINE


def test_wrong_pin_spends_a_try_and_signs_nothing(card: VirtualKentCard) -> None:
    with pytest.raises(InvalidPinError) as wrong:
        sign_with_card(InProcessConnection(card), "0000", new_challenge())
    assert wrong.value.tries_left == 2 and wrong.value.sw == 0x63C2


def test_other_key_references_are_refused(card: VirtualKentCard) -> None:
    session = KentCardSession(InProcessConnection(card))
    with pytest.raises(ApduError) as refused:
        session.internal_authenticate(new_challenge(), key=0x02)
    assert refused.value.sw == 0x6A86
    assert spec.sign_in_message(b"c", b"d").startswith(b"KENTCARD-SIGNIN-1")
