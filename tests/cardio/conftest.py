"""Issuer keys (made once per session: key generation is the slow part) and virtual cards."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from cardio.cardnumber import luhn_check_digit
from cardio.issuer import Issuer
from cardio.personalise import personalise
from cardio.session import KentCardSession
from hardware.card_state import CardStateFile
from hardware.virtual_card import InProcessConnection, VirtualKentCard

CARD_NUMBER = "982601000000001" + luhn_check_digit("982601000000001")
PIN = "2468"
EXPIRY = date(2030, 3, 31)
TODAY = date(2026, 1, 15)


@pytest.fixture(scope="session")
def issuer() -> Issuer:
    return Issuer.generate()


@pytest.fixture(scope="session")
def other_issuer() -> Issuer:
    return Issuer.generate()


MakeCard = Callable[..., VirtualKentCard]


@pytest.fixture
def make_card(issuer: Issuer, tmp_path: Path) -> MakeCard:
    """A personalised virtual card saved in a state file (keyword overrides for forgeries)."""

    def make(
        card_number: str = CARD_NUMBER,
        expiry: date = EXPIRY,
        pin: str = PIN,
        by: Issuer | None = None,
        name: str = "card.json",
    ) -> VirtualKentCard:
        by = by or issuer
        store = CardStateFile(tmp_path / name)
        card = VirtualKentCard.blank(by.personalisation_key.public_point, store)
        personalise(KentCardSession(InProcessConnection(card)), by, card_number, expiry, pin)
        card.power_off()
        return card

    return make


@pytest.fixture
def card(make_card: MakeCard) -> VirtualKentCard:
    return make_card()
