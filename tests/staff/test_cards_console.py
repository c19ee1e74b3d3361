"""Kent Cards in the staff console, through real pages and real CSRF: find by card number,
the Kent Card section of a record, reporting, issuing and replacing on the counter reader
(a virtual card in process)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from cardio.cardnumber import luhn_check_digit
from cardio.connection import CardConnection
from cardio.issuer import Issuer
from cardio.verify import authenticate
from hardware.virtual_card import InProcessConnection, VirtualKentCard
from idservice.cards import COUNTER_READER_KEY, dao, issuance
from idservice.db import db_session
from idservice.models import Card, Resident, StaffMember
from idservice.models.cards import Tap
from tests.accounts.conftest import in_app, submit, text
from tests.cards.conftest import PulledOut
from tests.factories import create_staff
from tests.staff.conftest import open_record

StaffClient = Callable[..., tuple[FlaskClient, StaffMember]]
PIN = {"pin": "4826", "pin_confirm": "4826"}


def _card_on_record(app: Flask, resident_id: str, issuer: Issuer) -> Card:
    """An active card issued by another officer through the issuance service."""
    with in_app(app):
        staff = create_staff()
        actor = issuance.CounterActor(staff.id, staff.role, "face-to-face", "new card")
        order = issuance.order_card(actor, resident_id)
        blank = VirtualKentCard.blank(issuer.personalisation_key.public_point)
        card = issuance.personalise_card(actor, order.id, InProcessConnection(blank), "1357")
        db_session.expunge(card)
        return card


def _cards(app: Flask, resident_id: str) -> list[tuple[str, str, str | None]]:
    with in_app(app):
        return [
            (c.card_number, c.status, c.hotlist_reason)
            for c in dao.dao_get_cards_for_resident(resident_id)
        ]


def _card_rows(snapshot: dict) -> tuple:
    return tuple(snapshot[name] for name in ("cards", "ledger_events") if name in snapshot)


# --- search by card number ----------------------------------------------------------------


def test_search_by_card_number_finds_the_resident_whatever_the_card_status(
    app: Flask,
    issuer: Issuer,
    staff_client: StaffClient,
    make_resident: Callable[..., Resident],
    audit_rows,
) -> None:
    ada = make_resident()
    make_resident(given_name="Grace", family_name="Hopper", email="g@example.com")
    card = _card_on_record(app, ada.id, issuer)
    client, _ = staff_client()
    spaced = " ".join(card.card_number[i : i + 4] for i in range(0, 16, 4))
    page = text(submit(client, "/staff/search", {"card_number": spaced}))
    assert "1 resident found" in page and "Ada Lovelace" in page and "Hopper" not in page
    assert audit_rows("staff.searched")[-1].details["fields"] == ["card_number"]
    # A reported card still finds its holder.
    with in_app(app):
        staff = create_staff()
        actor = issuance.CounterActor(staff.id, staff.role)
        issuance.report_card(actor, card.id, "lost")
    page = text(submit(client, "/staff/search", {"card_number": card.card_number}))
    assert "1 resident found" in page
    # Another well-formed number finds nobody.
    other = card.card_number[:14]
    other += "9" if card.card_number[14] != "9" else "8"
    other += luhn_check_digit(other)
    assert "0 residents found" in text(submit(client, "/staff/search", {"card_number": other}))


@pytest.mark.parametrize(
    ("number", "message"),
    [
        ("9826 0100 0000 0012", "not a Kent Card number"),  # check digit wrong
        ("9826 0100", "must be 16 digits"),
        ("9826-01OO-0000-0016", "only include numbers"),
    ],
)
def test_a_malformed_card_number_says_what_is_wrong(
    staff_client: StaffClient, snapshot, number: str, message: str
) -> None:
    client, _ = staff_client()
    before = snapshot()
    response = submit(client, "/staff/search", {"card_number": number})
    assert response.status_code == 400
    page = text(response)
    assert message in page and 'id="card_number-error"' in page
    assert f'value="{number}"' in page
    assert snapshot() == before


# --- the Kent Card section ----------------------------------------------------------------


def test_record_shows_masked_cards_and_recent_taps_and_audits_it(
    app: Flask,
    issuer: Issuer,
    staff_client: StaffClient,
    make_resident: Callable[..., Resident],
    audit_rows,
) -> None:
    resident = make_resident()
    card = _card_on_record(app, resident.id, issuer)
    with in_app(app):
        db_session.add(
            Tap(
                reader_client_id="reader-1",
                card_number=card.card_number,
                mode="transport",
                decision="allow",
                code="entitled",
                reason="older person's bus pass",
            )
        )
        db_session.commit()
    client, _ = staff_client("transport-officer")
    open_record(client, resident.id, reason="")
    page = text(client.get(f"/staff/residents/{resident.id}"))
    assert "Kent Card" in page and f"Ending {card.card_number[-4:]}" in page
    assert card.card_number not in page and card.card_number[:12] not in page
    assert "Active" in page and card.expiry.strftime("%-d %B %Y") in page
    assert "Bus or train" in page and "Accepted: older person&#39;s bus pass" in page
    # A transport officer sees, but cannot act.
    assert "Report lost, stolen or damaged" not in page and "Issue a Kent Card" not in page
    shown = audit_rows("resident.viewed", resident_id=resident.id)[-1]
    assert shown.details["screen"] == "record"
    assert shown.details["sections"] == ["kent card"]
    assert card.card_number not in repr(shown.details)


def test_roles_without_the_card_permission_do_not_see_cards(
    app: Flask, issuer: Issuer, staff_client: StaffClient, make_resident: Callable[..., Resident]
) -> None:
    resident = make_resident()
    card = _card_on_record(app, resident.id, issuer)
    client, _ = staff_client("contact-centre-officer")
    open_record(client, resident.id)
    page = text(client.get(f"/staff/residents/{resident.id}"))
    assert "Kent Card" not in page and card.card_number[-4:] not in page


# --- reporting ----------------------------------------------------------------------------


def test_report_a_card_lost_hotlists_it_with_the_records_reason(
    app: Flask,
    issuer: Issuer,
    staff_client: StaffClient,
    make_resident: Callable[..., Resident],
    audit_rows,
) -> None:
    resident = make_resident()
    card = _card_on_record(app, resident.id, issuer)
    client, staff = staff_client("library-staff")
    open_record(client, resident.id, reason="Resident lost their card on the bus")
    record = text(client.get(f"/staff/residents/{resident.id}"))
    url = f"/staff/residents/{resident.id}/cards/{card.id}/report"
    assert url in record
    missing = submit(client, url, {"why": "lost"})
    assert missing.status_code == 400
    assert "Confirm the resident has asked" in text(missing)
    assert _cards(app, resident.id)[0][1] == "active"
    response = submit(client, url, {"why": "lost", "confirm": "yes"})
    assert response.headers["Location"] == f"/staff/residents/{resident.id}"
    assert _cards(app, resident.id) == [(card.card_number, "hotlisted", "lost")]
    (hotlisted,) = audit_rows("card.hotlisted")
    assert (hotlisted.actor_id, hotlisted.channel, hotlisted.reason) == (
        staff.id,
        "face-to-face",
        "Resident lost their card on the bus",
    )
    assert hotlisted.details["staff_role"] == "library-staff"
    page = text(client.get(response.headers["Location"]))
    assert f"Card ending {card.card_number[-4:]} reported lost" in page
    # Reporting it again is refused with the service's message, nothing written.
    again = submit(client, url, {"why": "stolen", "confirm": "yes"})
    assert again.status_code == 400 and "not in use, so it cannot be reported" in text(again)
    assert len(audit_rows("card.hotlisted")) == 1


def test_another_residents_card_cannot_be_reported_from_this_record(
    app: Flask, issuer: Issuer, staff_client: StaffClient, make_resident: Callable[..., Resident]
) -> None:
    resident = make_resident()
    other = make_resident(given_name="Grace", email="grace@example.com")
    card = _card_on_record(app, other.id, issuer)
    client, _ = staff_client()
    open_record(client, resident.id)
    assert client.get(f"/staff/residents/{resident.id}/cards/{card.id}/report").status_code == 404


@pytest.mark.parametrize("path", ["cards/issue", "cards/{card}/report"])
def test_a_forbidden_role_gets_403_and_the_attempt_is_audited(
    app: Flask,
    issuer: Issuer,
    staff_client: StaffClient,
    make_resident: Callable[..., Resident],
    audit_rows,
    path: str,
) -> None:
    resident = make_resident()
    card = _card_on_record(app, resident.id, issuer)
    client, staff = staff_client("transport-officer")
    open_record(client, resident.id, reason="")
    url = f"/staff/residents/{resident.id}/" + path.format(card=card.id)
    with client.session_transaction() as sess:
        sess["_csrf"] = "token"
    response = client.post(
        url, data={"csrf_token": "token", "why": "lost", "confirm": "yes", **PIN}
    )
    assert response.status_code == 403
    assert "You cannot do this" in text(response)
    (refused,) = audit_rows("staff.access_refused")
    assert (refused.actor_id, refused.resident_id) == (staff.id, resident.id)
    expected = "issue-card" if path == "cards/issue" else "report-card"
    assert refused.details["permission"] == expected
    assert _cards(app, resident.id)[0][1] == "active"


# --- issuing ------------------------------------------------------------------------------


def test_issue_a_card_on_the_counter_reader(
    app: Flask,
    issuer: Issuer,
    counter: list[VirtualKentCard],
    staff_client: StaffClient,
    make_resident: Callable[..., Resident],
    audit_rows,
) -> None:
    resident = make_resident()
    client, staff = staff_client()
    open_record(client, resident.id, reason="Resident asked for a Kent Card")
    url = f"/staff/residents/{resident.id}/cards/issue"
    assert "Issue a Kent Card" in text(client.get(url))
    response = submit(client, url, PIN)
    assert response.headers["Location"] == f"/staff/residents/{resident.id}"
    ((number, status, _),) = _cards(app, resident.id)
    assert status == "active"
    verified, _ = authenticate(InProcessConnection(counter[-1]), issuer.keyring(), date.today())
    assert verified.card_number == number
    issued = audit_rows("card.issued")[0]
    assert (issued.actor_id, issued.reason) == (staff.id, "Resident asked for a Kent Card")
    page = text(client.get(response.headers["Location"]))
    assert f"Kent Card ending {number[-4:]} is active" in page
    assert "Replace the Kent Card" in page


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"pin": "12", "pin_confirm": "12"}, "pin", "PIN must be 4 to 8 numbers"),
        ({"pin": "123456789", "pin_confirm": "123456789"}, "pin", "PIN must be 4 to 8 numbers"),
        ({"pin": "12a4", "pin_confirm": "12a4"}, "pin", "PIN must be 4 to 8 numbers"),
        ({"pin": "4826", "pin_confirm": "4862"}, "pin_confirm", "The two PINs are different"),
        ({"pin": "", "pin_confirm": ""}, "pin", "Ask the resident to type a PIN"),
    ],
)
def test_bad_pins_say_what_is_wrong_are_never_shown_again_and_write_nothing(
    app: Flask,
    counter: list[VirtualKentCard],
    staff_client: StaffClient,
    make_resident: Callable[..., Resident],
    snapshot,
    data,
    field,
    message,
) -> None:
    resident = make_resident()
    client, _ = staff_client()
    open_record(client, resident.id)
    before = snapshot()
    response = submit(client, f"/staff/residents/{resident.id}/cards/issue", data)
    assert response.status_code == 400
    page = text(response)
    assert message in page and f'id="{field}-error"' in page
    for typed in {data["pin"], data["pin_confirm"]} - {""}:
        assert f'value="{typed}"' not in page
    assert _card_rows(snapshot()) == _card_rows(before)
    assert counter == []  # the reader was never used


def test_a_card_error_shows_the_status_words_message_and_activates_nothing(
    app: Flask,
    issuer,
    staff_client: StaffClient,
    make_resident: Callable[..., Resident],
    audit_rows,
) -> None:
    """A card from another issuer refuses the personalisation key (6982). ``issuer``: the
    instance has its own issuer (the test failed with a 500 when it ran first)."""
    stranger = Issuer.generate().personalisation_key.public_point
    before = app.extensions[COUNTER_READER_KEY]
    app.extensions[COUNTER_READER_KEY] = lambda: InProcessConnection(
        VirtualKentCard.blank(stranger)
    )
    try:
        resident = make_resident()
        client, _ = staff_client()
        open_record(client, resident.id)
        response = submit(client, f"/staff/residents/{resident.id}/cards/issue", PIN)
    finally:
        app.extensions[COUNTER_READER_KEY] = before
    assert response.status_code == 400
    page = text(response)
    assert "The card refused the issuer&#39;s signature" in page
    assert 'class="kc-error-summary"' in page and 'value="4826"' not in page
    assert [status for _, status, _ in _cards(app, resident.id)] == ["spoiled"]
    assert audit_rows("card.issued") == []


def test_a_card_pulled_out_half_way_can_be_run_again(
    app: Flask,
    issuer: Issuer,
    staff_client: StaffClient,
    make_resident: Callable[..., Resident],
) -> None:
    card = VirtualKentCard.blank(issuer.personalisation_key.public_point)
    connections: list[CardConnection] = [PulledOut(card, 4), InProcessConnection(card)]
    before = app.extensions[COUNTER_READER_KEY]
    app.extensions[COUNTER_READER_KEY] = lambda: connections.pop(0)
    try:
        resident = make_resident()
        client, _ = staff_client()
        open_record(client, resident.id)
        url = f"/staff/residents/{resident.id}/cards/issue"
        first = submit(client, url, PIN)
        assert first.status_code == 400
        assert "taken out of the reader" in text(first)
        assert [s for _, s, _ in _cards(app, resident.id)] == ["spoiled"]
        second = submit(client, url, PIN)
    finally:
        app.extensions[COUNTER_READER_KEY] = before
    assert second.status_code == 302
    # The same blank card, run again under a new number; the first number stays burnt.
    assert [s for _, s, _ in _cards(app, resident.id)] == ["active", "spoiled"]
    record = text(client.get(f"/staff/residents/{resident.id}"))
    assert "Spoiled at issue" in record and "Not finished" not in record


def test_replace_reports_the_old_card_and_links_the_new_one(
    app: Flask,
    issuer: Issuer,
    counter: list[VirtualKentCard],
    staff_client: StaffClient,
    make_resident: Callable[..., Resident],
) -> None:
    resident = make_resident()
    old = _card_on_record(app, resident.id, issuer)
    client, _ = staff_client()
    open_record(client, resident.id, reason="Card damaged in the wash")
    url = f"/staff/residents/{resident.id}/cards/issue"
    page = text(client.get(url))
    assert "Replace the Kent Card" in page and f"ending {old.card_number[-4:]}" in page
    missing = submit(client, url, PIN)
    assert missing.status_code == 400 and "Select whether the card was lost" in text(missing)
    assert _cards(app, resident.id)[0][1] == "active"
    response = submit(client, url, {**PIN, "why": "damaged"})
    assert response.status_code == 302
    with in_app(app):
        cards = {c.card_number: c for c in dao.dao_get_cards_for_resident(resident.id)}
        old_row = cards.pop(old.card_number)
        (new_row,) = cards.values()
        assert (old_row.status, old_row.hotlist_reason) == ("replaced", "damaged")
        assert (new_row.status, new_row.replaces_id, old_row.replaced_by_id) == (
            "active",
            old_row.id,
            new_row.id,
        )


def test_two_staff_issuing_at_once_one_gets_the_services_clear_message(
    app: Flask,
    issuer: Issuer,
    staff_client: StaffClient,
    make_resident: Callable[..., Resident],
) -> None:
    """Officer B's card is in the reader when officer A's card becomes active."""
    resident = make_resident()
    client_a, _ = staff_client()
    client_b, _ = staff_client("library-staff")
    url = f"/staff/residents/{resident.id}/cards/issue"
    for c in (client_a, client_b):
        open_record(c, resident.id)
    page_a = client_a.get(url)
    page_b = client_b.get(url)
    outcome: dict[str, int] = {}

    def officer_a() -> None:
        from tests.accounts.conftest import csrf_from

        response = client_a.post(url, data={**PIN, "csrf_token": csrf_from(page_a)})
        outcome["a"] = response.status_code

    class ARaceInTheReader:
        """B's connection: before B's first command, A issues a card at another counter."""

        def __init__(self) -> None:
            self.inner = InProcessConnection(blank())
            self.raced = False

        def transmit(self, apdu: bytes) -> tuple[bytes, int]:
            if not self.raced:
                self.raced = True
                other = threading.Thread(target=officer_a)
                other.start()
                other.join()
            return self.inner.transmit(apdu)

        def disconnect(self) -> None:
            pass

    def blank() -> VirtualKentCard:
        return VirtualKentCard.blank(issuer.personalisation_key.public_point)

    connections: list[CardConnection] = [ARaceInTheReader()]
    before = app.extensions[COUNTER_READER_KEY]
    app.extensions[COUNTER_READER_KEY] = lambda: (
        connections.pop(0) if connections else InProcessConnection(blank())
    )
    try:
        from tests.accounts.conftest import csrf_from

        response_b = client_b.post(url, data={**PIN, "csrf_token": csrf_from(page_b)})
    finally:
        app.extensions[COUNTER_READER_KEY] = before
    assert outcome == {"a": 302}
    assert response_b.status_code == 400
    assert "Another member of staff issued a Kent Card to this resident a moment ago" in text(
        response_b
    )
    statuses = sorted(s for _, s, _ in _cards(app, resident.id))
    assert statuses == ["active", "spoiled"]
    with in_app(app):
        active = db_session.scalars(
            select(Card).where(Card.resident_id == resident.id, Card.status == "active")
        ).all()
    assert len(active) == 1
