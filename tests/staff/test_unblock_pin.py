"""Unblocking a Kent Card PIN at the counter: issuer-signed SET PIN on the resident's card."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cardio.errors import InvalidPinError, PinBlockedError
from cardio.issuer import Issuer
from cardio.session import KentCardSession
from hardware.virtual_card import InProcessConnection, VirtualKentCard
from idservice.cards import COUNTER_READER_KEY, issuance
from idservice.models import Card, Resident, StaffMember
from idservice.services.activity import activity_for
from tests.accounts.conftest import in_app, submit, text
from tests.cards.conftest import PulledOut
from tests.factories import create_staff
from tests.staff.conftest import open_record

StaffClient = Callable[..., tuple[FlaskClient, StaffMember]]
NEW_PIN = {"pin": "97531", "pin_confirm": "97531"}


@pytest.fixture
def in_reader(app: Flask) -> Iterator[list[object]]:
    """What the counter reader holds: set ``slot[0]`` to a card or a connection."""
    slot: list[object] = [None]

    def connect() -> object:
        held = slot[0]
        return InProcessConnection(held) if isinstance(held, VirtualKentCard) else held

    before = app.extensions[COUNTER_READER_KEY]
    app.extensions[COUNTER_READER_KEY] = connect
    yield slot
    app.extensions[COUNTER_READER_KEY] = before


def _issued(app: Flask, issuer: Issuer, resident_id: str) -> tuple[Card, VirtualKentCard]:
    with in_app(app):
        staff = create_staff()
        actor = issuance.CounterActor(staff.id, staff.role, "face-to-face", "new card")
        order = issuance.order_card(actor, resident_id)
        blank = VirtualKentCard.blank(issuer.personalisation_key.public_point)
        card = issuance.personalise_card(actor, order.id, InProcessConnection(blank), "1357")
        return card, blank


def _block(card: VirtualKentCard) -> None:
    session = KentCardSession(InProcessConnection(card))
    for _ in range(3):
        with pytest.raises(InvalidPinError):
            session.verify_pin("0000")
    with pytest.raises(PinBlockedError):
        session.verify_pin("1357")


@pytest.fixture
def blocked(
    app: Flask, issuer: Issuer, make_resident: Callable[..., Resident]
) -> tuple[Resident, Card, VirtualKentCard]:
    resident = make_resident()
    card, virtual = _issued(app, issuer, resident.id)
    _block(virtual)
    return resident, card, virtual


def _url(resident: Resident, card: Card) -> str:
    return f"/staff/residents/{resident.id}/cards/{card.id}/unblock-pin"


def test_a_blocked_pin_is_unblocked_with_a_new_pin(
    app: Flask, staff_client: StaffClient, blocked, in_reader, audit_rows
) -> None:
    resident, card, virtual = blocked
    in_reader[0] = virtual
    client, staff = staff_client()
    open_record(client, resident.id)
    assert "Unblock PIN" in text(client.get(f"/staff/residents/{resident.id}"))
    response = submit(client, _url(resident, card), NEW_PIN)
    assert response.status_code == 302, text(response)
    page = text(client.get(response.location))
    assert f"The PIN on the card ending {card.card_number[-4:]} is unblocked" in page
    session = KentCardSession(InProcessConnection(virtual))
    session.verify_pin("97531")  # the new PIN works; the old one is gone
    assert virtual.state.pin_tries_left == 3
    rows = audit_rows("card.pin_unblocked")
    assert [(r.resident_id, r.actor_id, r.details["card_id"]) for r in rows] == [
        (resident.id, staff.id, card.id)
    ]
    with in_app(app):
        assert "Kent Card PIN unblocked" in [i.what for i in activity_for(resident.id)]


def test_a_card_that_is_not_blocked_is_left_alone(
    app: Flask, issuer: Issuer, staff_client: StaffClient, make_resident, in_reader, audit_rows
) -> None:
    resident = make_resident()
    card, virtual = _issued(app, issuer, resident.id)
    in_reader[0] = virtual
    client, _ = staff_client()
    open_record(client, resident.id)
    response = submit(client, _url(resident, card), NEW_PIN)
    assert response.status_code == 400
    assert "The PIN on this card is not blocked (it has 3 tries left)" in text(response)
    assert 'value="97531"' not in text(response)
    KentCardSession(InProcessConnection(virtual)).verify_pin("1357")
    assert audit_rows("card.pin_unblocked") == []


def test_the_wrong_card_in_the_reader_is_refused(
    app: Flask, issuer: Issuer, staff_client: StaffClient, blocked, make_resident, in_reader
) -> None:
    resident, card, _ = blocked
    _, someone_elses = _issued(app, issuer, make_resident().id)
    _block(someone_elses)
    in_reader[0] = someone_elses
    client, _ = staff_client()
    open_record(client, resident.id)
    response = submit(client, _url(resident, card), NEW_PIN)
    assert response.status_code == 400
    assert f"The card in the reader is not the card ending {card.card_number[-4:]}" in text(
        response
    )
    with pytest.raises(PinBlockedError):
        KentCardSession(InProcessConnection(someone_elses)).verify_pin("0000")


def test_reader_errors_are_named(app: Flask, staff_client: StaffClient, blocked, in_reader) -> None:
    resident, card, virtual = blocked
    client, _ = staff_client()
    open_record(client, resident.id)
    in_reader[0] = PulledOut(virtual, 1)
    pulled = submit(client, _url(resident, card), NEW_PIN)
    assert pulled.status_code == 400 and "taken out of the reader" in text(pulled)
    mismatch = submit(client, _url(resident, card), {"pin": "1234", "pin_confirm": "4321"})
    assert mismatch.status_code == 400 and "The two PINs are different" in text(mismatch)


def test_roles_without_the_permission_cannot_unblock(
    staff_client: StaffClient, blocked, in_reader
) -> None:
    resident, card, virtual = blocked
    in_reader[0] = virtual
    client, _ = staff_client("transport-officer")
    open_record(client, resident.id, reason="")
    response = client.get(_url(resident, card))
    assert response.status_code == 403
