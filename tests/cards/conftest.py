"""Cards at the counter: the instance's issuer, blank virtual cards, staff and tokens."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import pytest
from flask import Flask

from cardio.connection import CardConnection, CardRemovedError
from cardio.issuer import Issuer
from entitlements.ledger import store as ledger
from entitlements.ledger.events import Channel, EventKind, LedgerEvent
from hardware.virtual_card import InProcessConnection, VirtualKentCard
from idservice.cards import COUNTER_READER_KEY
from idservice.cards.issuance import CounterActor
from idservice.cards.issuer_keys import issuer_store
from idservice.config import Settings
from idservice.models.base import utcnow
from tests.accounts.conftest import in_app
from tests.factories import create_resident, create_staff

PIN = "2468"
TODAY = date(2026, 11, 23)


@pytest.fixture(scope="session")
def issuer(settings: Settings) -> Issuer:
    """The issuer of this test instance (``kentcard issuer init`` on the app's folder)."""
    store = issuer_store(settings.instance_path, create_development=True)
    return store.load() if store.exists() else store.init()


@pytest.fixture
def blank_card(issuer: Issuer) -> Callable[[], VirtualKentCard]:
    return lambda: VirtualKentCard.blank(issuer.personalisation_key.public_point)


class PulledOut:
    """A connection whose card leaves the field after ``after`` APDUs."""

    def __init__(self, card: VirtualKentCard, after: int) -> None:
        self.inner = InProcessConnection(card)
        self.left = after

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        if self.left <= 0:
            raise CardRemovedError("card removed")
        self.left -= 1
        return self.inner.transmit(apdu)

    def disconnect(self) -> None:
        pass


@pytest.fixture
def counter(app: Flask, issuer: Issuer) -> Iterator[list[VirtualKentCard]]:
    """The counter reader holds a fresh blank card each time it is connected; the cards
    handed out are listed so a test can tap them afterwards."""
    cards: list[VirtualKentCard] = []

    def connect() -> CardConnection:
        card = VirtualKentCard.blank(issuer.personalisation_key.public_point)
        cards.append(card)
        return InProcessConnection(card)

    before = app.extensions[COUNTER_READER_KEY]
    app.extensions[COUNTER_READER_KEY] = connect
    yield cards
    app.extensions[COUNTER_READER_KEY] = before


@pytest.fixture
def resident_and_actor(app: Flask) -> tuple[str, CounterActor]:
    with in_app(app):
        resident = create_resident()
        staff = create_staff()
        return resident.id, CounterActor(staff.id, staff.role, "face-to-face", "new card")


def grant(app: Flask, resident_id: str, service: str, **overrides: Any) -> None:
    """An entitlement on the ledger, as the eligibility journey records one."""
    values: dict[str, Any] = {
        "kind": EventKind.GRANT,
        "resident": resident_id,
        "service": service,
        "actor": "tests",
        "channel": Channel.FACE_TO_FACE,
        "reason": "eligible on checked facts",
        "occurred_at": utcnow(),
        "valid_from": date(2020, 1, 1),
        "valid_until": date(2099, 1, 1),
    }
    values.update(overrides)
    ledger.append(app.extensions["kentcard_engine"], [LedgerEvent(**values)])
