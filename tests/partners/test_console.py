"""Staff record life events in the console and see how events reach partners."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from idservice.db import db_session
from idservice.models.residents import Resident
from idservice.models.staff import StaffMember
from idservice.services import life_events
from tests.accounts.conftest import in_app, submit, text
from tests.partners.conftest import PartnerInfo, grant, ledger_kinds, outbox_rows, states
from tests.staff.conftest import open_record

StaffClient = Callable[..., tuple[FlaskClient, StaffMember]]


def _date(prefix: str, value: date) -> dict[str, str]:
    return {
        f"{prefix}-day": str(value.day),
        f"{prefix}-month": str(value.month),
        f"{prefix}-year": str(value.year),
    }


def test_a_contact_centre_officer_records_a_death(
    app: Flask,
    make_resident: Callable[..., Resident],
    make_partner: Callable[..., PartnerInfo],
    staff_client: StaffClient,
    audit_rows: Callable[..., list[Any]],
) -> None:
    resident = make_resident()
    grant(app, resident.id, "bus-pass-older")
    make_partner("https://bus.example/events", services=["bus-pass-older"])
    browser, staff = staff_client("contact-centre-officer")
    open_record(browser, resident.id, channel="phone", reason="Daughter rang to tell us")
    record = text(browser.get(f"/staff/residents/{resident.id}"))
    assert "Tell us about a death" in record
    died = date.today() - timedelta(days=2)
    url = f"/staff/residents/{resident.id}/life-events/death"
    response = submit(
        browser, url, {**_date("occurred_on", died), "reference": "DE 1234", "confirm": "yes"}
    )
    assert response.status_code == 302, text(response)
    page = text(browser.get(response.headers["Location"]))
    assert "The death has been recorded" in page and "Deceased" in page
    assert states(app, resident.id)["bus-pass-older"][0] == "revoked"
    assert len(outbox_rows(app)) == 2
    [entry] = audit_rows("life_event.recorded", resident.id)
    assert entry.actor_id == staff.id and entry.channel == "phone"
    assert entry.reason == "Daughter rang to tell us"
    assert entry.details["kind"] == "death" and entry.details["partners_told"] == 2
    # A closed record offers no life events, and the page says why.
    closed = browser.get(url)
    assert closed.status_code == 409 and "This record is closed" in text(closed)


def test_bad_answers_are_shown_next_to_the_field_and_kept(
    app: Flask, make_resident: Callable[..., Resident], staff_client: StaffClient
) -> None:
    resident = make_resident()
    browser, _ = staff_client()
    open_record(browser, resident.id)
    url = f"/staff/residents/{resident.id}/life-events/death"
    tomorrow = date.today() + timedelta(days=1)
    response = submit(browser, url, {**_date("occurred_on", tomorrow), "reference": "DE 99"})
    body = text(response)
    assert response.status_code == 400
    assert "The date must be today or in the past" in body
    assert "Confirm you have checked who has died" in body
    assert 'value="DE 99"' in body and f'value="{tomorrow.year}"' in body
    assert ledger_kinds(app, resident.id) == []
    with in_app(app):
        stored = db_session.get(Resident, resident.id)
        assert stored is not None and stored.status == "active"


def test_change_of_address_in_the_console(
    app: Flask, make_resident: Callable[..., Resident], staff_client: StaffClient
) -> None:
    resident = make_resident()
    browser, _ = staff_client()
    open_record(browser, resident.id)
    url = f"/staff/residents/{resident.id}/life-events/address-changed"
    answers = {
        "address_line_1": "2 Castle Street",
        "address_line_2": "",
        "town": "Dover",
        "postcode": "ct16 1pw",
        **_date("occurred_on", date.today()),
    }
    response = submit(browser, url, answers)
    assert response.status_code == 302, text(response)
    with in_app(app):
        stored = db_session.get(Resident, resident.id)
        assert stored is not None and (stored.town, stored.postcode) == ("Dover", "CT16 1PW")
    # The same address again: refused, the form kept.
    again = submit(browser, url, answers)
    assert again.status_code == 400 and "same as the address" in text(again)
    assert 'value="2 Castle Street"' in text(again)


def test_name_change_page_starts_from_the_current_name(
    make_resident: Callable[..., Resident], staff_client: StaffClient
) -> None:
    resident = make_resident()
    browser, _ = staff_client()
    open_record(browser, resident.id)
    page = text(browser.get(f"/staff/residents/{resident.id}/life-events/name-changed"))
    assert 'value="Lovelace"' in page


def test_roles_without_the_permission_are_refused(
    make_resident: Callable[..., Resident],
    staff_client: StaffClient,
    audit_rows: Callable[..., list[Any]],
) -> None:
    resident = make_resident()
    browser, _ = staff_client("transport-officer")
    open_record(browser, resident.id)
    response = browser.get(f"/staff/residents/{resident.id}/life-events/death")
    assert response.status_code == 403
    assert audit_rows("staff.access_refused", resident.id)
    assert browser.get("/staff/partner-events").status_code == 403
    unknown_kind = staff_client()[0]
    open_record(unknown_kind, resident.id)
    assert unknown_kind.get(f"/staff/residents/{resident.id}/life-events/birth").status_code == 404


def test_administrators_see_delivery_status(
    app: Flask,
    make_resident: Callable[..., Resident],
    make_partner: Callable[..., PartnerInfo],
    staff_client: StaffClient,
) -> None:
    resident = make_resident()
    grant(app, resident.id, "bus-pass-older")
    make_partner("https://bus.example/events", services=["bus-pass-older"], name="Stagecoach")
    with in_app(app):
        life_events.record_death(
            life_events.Notifier("registrar", "registrar-feed"), resident.id, date.today()
        )
    browser, _ = staff_client("administrator")
    page = text(browser.get("/staff/partner-events"))
    assert "Stagecoach" in page and "entitlement-ended" in page
    assert "Lovelace" not in page and resident.id not in page
    only_dead = browser.get("/staff/partner-events?status=dead")
    assert only_dead.status_code == 200 and "There are no events to show" in text(only_dead)
    assert browser.get("/staff/partner-events?status=nonsense").status_code == 404
    assert "See events sent to partner services" in text(browser.get("/staff/"))
