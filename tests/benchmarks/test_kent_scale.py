"""The Kent-scale benchmark data acts like real cards: answers verify, numbers are valid."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from benchmarks.kent_scale import FIRST_SERIAL, KentScale
from cardio.cardnumber import has_valid_check_digit
from cardio.session import parse_select_answer
from cardio.verify import Reason, TapRejected, new_challenge, verify_tap
from idservice.cards.issuer_keys import issuer_store


def test_generated_cards_tap_like_issued_ones(tmp_path: Path) -> None:
    issuer_store(tmp_path, create_development=True).init()
    scale = KentScale(tmp_path, 1000, b"s" * 32)
    keyring = scale.issuer.keyring()
    for i in (0, 1, 999):
        answer = parse_select_answer(scale.select_answer(i))
        challenge = new_challenge()
        verified = verify_tap(
            answer, challenge, scale.tap_answer(i, challenge), keyring, date(2026, 11, 23)
        )
        assert verified.card_number == scale.card_number(i)
        assert has_valid_check_digit(verified.card_number)
        assert int(verified.card_number[6:15]) == FIRST_SERIAL + i
    challenge = new_challenge()
    with pytest.raises(TapRejected) as rejected:
        verify_tap(
            parse_select_answer(scale.select_answer(1)),
            challenge,
            scale.tap_answer(2, challenge),  # another card's key
            keyring,
            date(2026, 11, 23),
        )
    assert rejected.value.reason is Reason.NOT_GENUINE
    assert scale.services(0) == ("bus-pass-older", "library")
    assert scale.services(9) == ()
    assert scale.date_of_birth(0) < date(1959, 1, 1) < scale.date_of_birth(1)
    assert len({scale.resident_id(i) for i in range(1000)}) == 1000
