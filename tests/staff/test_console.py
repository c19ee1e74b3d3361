"""The staff console through real forms: find, open with a reason, act for the resident,
register someone without email, read the audit trail; every look and change audited."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest
from flask import Flask
from flask.testing import FlaskClient

from idservice.models import Resident, StaffMember
from tests.accounts.conftest import submit, text
from tests.factories import sign_in_client
from tests.staff.conftest import open_record, personal_values

StaffClient = Callable[..., tuple[FlaskClient, StaffMember]]


def _no_personal_values(rows: list, resident: Resident) -> None:
    for row in rows:
        flat = repr(row.details)
        for value in personal_values(resident):
            assert value not in flat, f"{value!r} in the details of {row.action}"


# --- search -------------------------------------------------------------------------------


def test_search_by_name_and_date_of_birth_shows_minimal_data_and_audits_no_resident(
    staff_client: StaffClient, make_resident: Callable[..., Resident], audit_rows
) -> None:
    ada = make_resident(phone="07700900982")
    make_resident(given_name="Grace", family_name="Hopper", postcode="CT20 1PX")
    client, staff = staff_client()
    response = submit(
        client,
        "/staff/search",
        {
            "family_name": "lovelace",
            "given_name": "Ad",
            "date_of_birth-day": "10",
            "date_of_birth-month": "12",
            "date_of_birth-year": "1956",
        },
    )
    assert response.status_code == 200
    page = text(response)
    assert "1 resident found" in page
    assert "Ada Lovelace" in page and "<td>1956</td>" in page and "<td>ME14</td>" in page
    for hidden in (str(ada.email), "Sessions House", "ME14 1XQ", "07700900982", "Hopper"):
        assert hidden not in page
    # Seeing a result is not a look at the record: nothing on the resident's trail.
    # (registration also records the date of birth and address as facts, and offers what
    # the new record can get)
    assert [a.action for a in audit_rows(resident_id=ada.id)] == [
        "resident.created",
        "fact.recorded",
        "fact.recorded",
        "entitlements.reevaluated",
    ]
    searched = audit_rows("staff.searched")
    assert len(searched) == 1
    assert searched[0].resident_id is None and searched[0].actor_id == staff.id
    assert searched[0].details == {
        "staff_role": "gateway-officer",
        "fields": ["family_name", "given_name", "date_of_birth"],
        "matches": 1,
    }


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"email": "ADA@Example.com"}, 1),
        ({"postcode": "me141xq"}, 1),
        ({"postcode": "CT20 1PX"}, 0),
        ({"family_name": "Lovelace", "postcode": "ME14 1XQ"}, 1),
    ],
)
def test_search_by_email_or_postcode(
    staff_client: StaffClient, make_resident: Callable[..., Resident], data, expected
) -> None:
    make_resident(email="ada@example.com")
    client, _ = staff_client()
    page = text(submit(client, "/staff/search", data))
    assert f"{expected} resident{'' if expected == 1 else 's'} found" in page


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({}, None, "an email address, a postcode or a Kent Card number"),
        ({"given_name": "Ada"}, "family_name", "as well as a first name"),
        ({"family_name": "Lovelace"}, "date_of_birth", "date of birth with their last name"),
        (
            {"date_of_birth-day": "1", "date_of_birth-month": "2", "date_of_birth-year": "1950"},
            "family_name",
            "last name with the date of birth",
        ),
        ({"email": "not an email"}, "email", "correct format"),
        ({"postcode": "XX"}, "postcode", "real UK postcode"),
        (
            {"family_name": "Lovelace", "date_of_birth-day": "31", "date_of_birth-month": "2"},
            "date_of_birth",
            "must include a year",
        ),
    ],
)
def test_bad_searches_keep_what_was_typed_and_write_nothing(
    staff_client: StaffClient, snapshot, data, field, message
) -> None:
    client, _ = staff_client()
    before = snapshot()
    response = submit(client, "/staff/search", data)
    assert response.status_code == 400
    page = text(response)
    assert message in page
    if field:
        assert f'id="{field}-error"' in page
    for name, value in data.items():
        assert f'value="{value}"' in page, name
    assert snapshot() == before


def test_search_without_a_csrf_token_is_refused(staff_client: StaffClient, snapshot) -> None:
    client, _ = staff_client()
    before = snapshot()
    response = client.post("/staff/search", data={"postcode": "ME14 1XQ"})
    assert response.status_code == 400
    assert "This page has expired" in text(response)
    assert 'value="ME14 1XQ"' in text(response)
    assert snapshot() == before


# --- opening a record ---------------------------------------------------------------------


def test_opening_a_record_needs_a_reason_and_is_audited(
    app: Flask,
    staff_client: StaffClient,
    make_resident: Callable[..., Resident],
    audit_rows,
    snapshot,
) -> None:
    resident = make_resident()
    client, staff = staff_client()
    # Straight to the record: sent to state a reason first.
    response = client.get(f"/staff/residents/{resident.id}")
    assert response.headers["Location"] == f"/staff/residents/{resident.id}/open"
    before = snapshot()
    bad = submit(client, f"/staff/residents/{resident.id}/open", {"channel": "phone"})
    assert bad.status_code == 400
    assert "Enter why you are opening this record" in text(bad)
    assert 'value="phone" checked' in text(bad)
    assert snapshot() == before

    opened = open_record(client, resident.id, channel="phone", reason="Resident phoned about mail")
    assert opened.headers["Location"] == f"/staff/residents/{resident.id}"
    page = text(client.get(f"/staff/residents/{resident.id}"))
    assert "Sessions House" in page and "Self-declared" in page
    views = audit_rows("resident.viewed", resident_id=resident.id)
    assert [(v.details["screen"], v.channel, v.reason, v.actor_id) for v in views] == [
        ("open record", "phone", "Resident phoned about mail", staff.id),
        ("record", "phone", "Resident phoned about mail", staff.id),
    ]
    assert all(v.actor_type == "staff" for v in views)
    _no_personal_values(views, resident)

    own = app.test_client()
    sign_in_client(app, own, resident)
    activity = text(own.get("/account/activity"))
    assert "A Gateway officer" in activity
    assert "Reason: Resident phoned about mail" in activity
    assert "By phone" in activity


def test_a_transport_officer_may_open_a_record_without_a_reason(
    staff_client: StaffClient, make_resident: Callable[..., Resident], audit_rows
) -> None:
    resident = make_resident()
    client, _ = staff_client("transport-officer")
    response = submit(
        client, f"/staff/residents/{resident.id}/open", {"channel": "face-to-face", "reason": ""}
    )
    assert response.status_code == 302
    assert [v.reason for v in audit_rows("resident.viewed")] == [None]


def test_opening_an_unknown_record_is_a_404(staff_client: StaffClient) -> None:
    client, _ = staff_client()
    assert client.get("/staff/residents/no-such-resident/open").status_code == 404


# --- acting for the resident --------------------------------------------------------------


def test_staff_change_details_through_the_residents_own_service(
    app: Flask,
    staff_client: StaffClient,
    make_resident: Callable[..., Resident],
    reload: Callable[[str], Resident],
    audit_rows,
) -> None:
    resident = make_resident()
    client, staff = staff_client("contact-centre-officer")
    open_record(client, resident.id, channel="phone", reason="Moved house, rang to update")
    form = client.get(f"/staff/residents/{resident.id}/change/address")
    assert 'value="Sessions House"' in text(form)
    response = submit(
        client,
        f"/staff/residents/{resident.id}/change/address",
        {"address_line_1": "1 New Road", "town": "Ashford", "postcode": "tn23 1aa"},
    )
    assert response.headers["Location"] == f"/staff/residents/{resident.id}"
    stored = reload(resident.id)
    assert (stored.address_line_1, stored.town, stored.postcode) == (
        "1 New Road",
        "Ashford",
        "TN23 1AA",
    )
    changes = audit_rows("resident.details_changed", resident_id=resident.id)
    assert len(changes) == 1
    change = changes[0]
    assert (change.actor_type, change.actor_id, change.channel, change.reason) == (
        "staff",
        staff.id,
        "phone",
        "Moved house, rang to update",
    )
    assert change.details == {
        "staff_role": "contact-centre-officer",
        "assisted": True,
        "fields": ["address_line_1", "postcode", "town"],
    }
    _no_personal_values(changes, stored)

    own = app.test_client()
    sign_in_client(app, own, resident)
    activity = text(own.get("/account/activity"))
    assert "A contact centre officer" in activity and "Your address" in activity


def test_a_bad_change_keeps_what_was_typed_and_writes_nothing(
    staff_client: StaffClient, make_resident: Callable[..., Resident], snapshot
) -> None:
    resident = make_resident()
    client, _ = staff_client()
    open_record(client, resident.id)
    before = snapshot()
    response = submit(
        client, f"/staff/residents/{resident.id}/change/phone", {"phone": "call me maybe"}
    )
    assert response.status_code == 400
    assert 'id="phone-error"' in text(response)
    assert 'value="call me maybe"' in text(response)
    after = snapshot()
    # Only the look at the change page was recorded; nothing about the resident changed.
    assert after["residents"] == before["residents"]
    assert len(after["audit_records"]) == len(before["audit_records"]) + 1


def test_change_pages_need_the_record_opened_first(
    staff_client: StaffClient, make_resident: Callable[..., Resident]
) -> None:
    resident = make_resident()
    client, _ = staff_client()
    response = client.get(f"/staff/residents/{resident.id}/change/name")
    assert response.headers["Location"] == f"/staff/residents/{resident.id}/open"


# --- registering a resident ---------------------------------------------------------------

NEW_RESIDENT = {
    "given_name": "Edith",
    "family_name": "Cavell",
    "date_of_birth-day": "4",
    "date_of_birth-month": "12",
    "date_of_birth-year": "1945",
    "address_line_1": "2 Church Lane",
    "town": "Canterbury",
    "postcode": "CT1 2AA",
    "channel": "face-to-face",
}


def test_register_a_resident_who_has_no_email(
    app: Flask,
    staff_client: StaffClient,
    reload: Callable[[str], Resident],
    audit_rows,
    outbox,
) -> None:
    client, staff = staff_client("library-staff")
    response = submit(client, "/staff/residents/new", NEW_RESIDENT)
    assert response.status_code == 302
    resident_id = response.headers["Location"].rsplit("/", 1)[-1]
    stored = reload(resident_id)
    assert stored.email is None and stored.password_hash is None
    assert stored.date_of_birth == date(1945, 12, 4)
    created = audit_rows("resident.created", resident_id=resident_id)
    assert [(c.actor_type, c.actor_id, c.channel) for c in created] == [
        ("staff", staff.id, "face-to-face")
    ]
    assert created[0].details["staff_role"] == "library-staff"
    _no_personal_values(created, stored)
    # The new record is open for the rest of the visit.
    assert client.get(response.headers["Location"]).status_code == 200
    assert outbox() == []


def test_register_with_an_email_sends_a_confirmation_link(
    staff_client: StaffClient, outbox
) -> None:
    client, _ = staff_client()
    response = submit(client, "/staff/residents/new", {**NEW_RESIDENT, "email": "e@example.com"})
    assert response.status_code == 302
    assert [m.template for m in outbox(recipient="e@example.com")] == ["confirm_email"]


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"given_name": ""}, "given_name", "Enter your first name"),
        ({"postcode": "nowhere"}, "postcode", "real UK postcode"),
        ({"channel": ""}, "channel", "Select how you are helping the resident"),
        ({"email": "bad@"}, "email", "correct format"),
        ({"date_of_birth-year": "2999"}, "date_of_birth", "must be in the past"),
        ({"email": "taken@example.com"}, "email", "already uses this email address"),
        # A record that may be the same person: tests/staff/test_duplicates.py.
    ],
)
def test_bad_registrations_keep_what_was_typed_and_write_nothing(
    staff_client: StaffClient,
    make_resident: Callable[..., Resident],
    snapshot,
    overrides,
    field,
    message,
) -> None:
    make_resident(email="taken@example.com")
    client, _ = staff_client()
    before = snapshot()
    response = submit(client, "/staff/residents/new", {**NEW_RESIDENT, **overrides})
    assert response.status_code == 400
    page = text(response)
    assert message in page and f'id="{field}-error"' in page
    assert 'value="2 Church Lane"' in page
    assert snapshot() == before


# --- the audit trail ----------------------------------------------------------------------


def test_auditor_reads_the_trail_and_reading_it_is_recorded(
    staff_client: StaffClient, make_resident: Callable[..., Resident], audit_rows
) -> None:
    resident = make_resident()
    officer, _ = staff_client()
    open_record(officer, resident.id, reason="Resident at the desk with a query")
    client, auditor = staff_client("auditor")
    page = text(client.get("/staff/audit"))
    assert "resident.viewed" in page and "Resident at the desk with a query" in page
    assert "Sessions House" not in page
    filtered = submit(client, "/staff/audit", {"resident": resident.id})
    assert filtered.status_code == 200
    assert f"Records about resident {resident.id}" in text(filtered)
    viewed = audit_rows("audit.viewed")
    # The unfiltered page twice (the second time to fetch the form), then the filter.
    assert [(v.actor_id, v.resident_id) for v in viewed] == [
        (auditor.id, None),
        (auditor.id, None),
        (auditor.id, resident.id),
    ]
    bad = client.post("/staff/audit", data={"resident": "not a reference", "csrf_token": "x"})
    assert bad.status_code == 400 and 'value="not a reference"' in text(bad)
    assert len(audit_rows("audit.viewed")) == 3


def test_an_email_taken_between_the_check_and_the_insert_is_a_form_error(
    staff_client: StaffClient,
    make_resident: Callable[..., Resident],
    monkeypatch: pytest.MonkeyPatch,
    snapshot,
) -> None:
    """Two counters registering the same address at once: one record, one clear message."""
    from idservice.staff import services

    make_resident(email="race@example.com")
    monkeypatch.setattr(services, "dao_get_resident_by_email", lambda email: None)
    client, _ = staff_client()
    before = snapshot()
    response = submit(client, "/staff/residents/new", {**NEW_RESIDENT, "email": "race@example.com"})
    assert response.status_code == 400
    assert "already uses this email address" in text(response)
    assert snapshot() == before
