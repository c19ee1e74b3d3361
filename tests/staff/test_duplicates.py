"""Possible duplicates in the staff console: registering someone whose record may exist
already, the list of open pairs, a pair side by side, "not the same person", and the
warning on a record. Through real pages; every look and change audited."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idservice.db import db_session
from idservice.models import PossibleDuplicate, Resident, StaffMember
from idservice.models.duplicates import DUPLICATE_NOT_SAME, DUPLICATE_OPEN
from tests.accounts.conftest import in_app, submit, text
from tests.factories import sign_in_client
from tests.staff.conftest import open_record, personal_values

StaffClient = Callable[..., tuple[FlaskClient, StaffMember]]

#: Ada Lovelace again, typed at a counter: a typo in the last name, another house.
SECOND_ADA = {
    "given_name": "Ada",
    "family_name": "Lovelance",
    "date_of_birth-day": "10",
    "date_of_birth-month": "12",
    "date_of_birth-year": "1956",
    "address_line_1": "2 County Road",
    "town": "Maidstone",
    "postcode": "ME14 1XQ",
    "channel": "face-to-face",
}
WHY = "Twin sister: both passports seen at the desk"


def _pairs(app: Flask) -> list[PossibleDuplicate]:
    with in_app(app):
        rows = list(db_session.scalars(select(PossibleDuplicate)))
        db_session.expunge_all()
        return rows


def _count(app: Flask) -> int:
    with in_app(app):
        return len(list(db_session.scalars(select(Resident.id))))


def _page(response: Any) -> str:
    return html.unescape(text(response))


# --- registering at the counter -------------------------------------------------------------


def test_the_likely_match_is_shown_and_nothing_is_created(
    app: Flask, staff_client: StaffClient, make_resident: Callable[..., Resident], audit_rows
) -> None:
    existing = make_resident()
    client, staff = staff_client("library-staff")
    response = submit(client, "/staff/residents/new", SECOND_ADA)
    assert response.status_code == 400
    page = _page(response)
    assert "Records that may be the same person" in page
    for shown in ("Ada Lovelace", "10 December 1956", "ME14 1XQ", existing.id):
        assert shown in page
    assert "name 'Ada Lovelance' close to 'Ada Lovelace' (0.99)" in page
    assert 'id="different_person-error"' in page and "tick the box" in page
    assert 'value="2 County Road"' in page and 'value="Lovelance"' in page  # all kept
    assert _count(app) == 1 and _pairs(app) == []
    # Showing the match is a look at that record, on its trail, with a reason.
    [look] = audit_rows("resident.viewed", resident_id=existing.id)
    assert (look.actor_id, look.channel, look.details["screen"]) == (
        staff.id,
        "face-to-face",
        "register",
    )
    assert look.reason and "checking for an existing record" in look.reason
    for value in personal_values(existing):
        assert value not in repr(look.details)


def test_a_different_person_is_registered_once_the_officer_says_why(
    app: Flask, staff_client: StaffClient, make_resident: Callable[..., Resident], audit_rows
) -> None:
    existing = make_resident()
    client, staff = staff_client("library-staff")
    response = submit(
        client,
        "/staff/residents/new",
        {**SECOND_ADA, "different_person": "yes", "different_person_reason": WHY},
    )
    assert response.status_code == 302
    new_id = response.headers["Location"].rsplit("/", 1)[-1]
    assert _count(app) == 2
    [pair] = _pairs(app)
    assert (pair.new_resident_id, pair.existing_resident_id) == (new_id, existing.id)
    assert (pair.status, pair.note, pair.resolved_by_staff_id, pair.channel) == (
        DUPLICATE_NOT_SAME,
        WHY,
        staff.id,
        "face-to-face",
    )
    trail = audit_rows("duplicate.not_same")
    assert sorted(a.resident_id for a in trail) == sorted([new_id, existing.id])
    assert all(a.reason == WHY and a.details["staff_role"] == "library-staff" for a in trail)
    # A resolved pair puts no warning on either record.
    record = client.get(response.headers["Location"])
    assert "may belong to the same person" not in text(record)


@pytest.mark.parametrize(
    ("answers", "field", "message"),
    [
        ({"different_person": "yes"}, "different_person_reason", "Enter how you know"),
        ({"different_person_reason": WHY}, "different_person", "tick the box"),
        (
            {"different_person": "yes", "different_person_reason": "twin"},
            "different_person_reason",
            "must be 5 characters or more",
        ),
    ],
)
def test_the_confirmation_needs_the_box_and_a_reason(
    app: Flask,
    staff_client: StaffClient,
    make_resident: Callable[..., Resident],
    answers: dict[str, str],
    field: str,
    message: str,
) -> None:
    existing = make_resident()
    client, _ = staff_client()
    response = submit(client, "/staff/residents/new", {**SECOND_ADA, **answers})
    assert response.status_code == 400
    page = _page(response)
    assert message in page and f'id="{field}-error"' in page
    assert existing.id in page  # the matches are still shown beside the question
    assert 'value="Lovelance"' in page
    assert _count(app) == 1 and _pairs(app) == []


def test_no_match_no_question(staff_client: StaffClient, make_resident) -> None:
    make_resident()
    client, _ = staff_client()
    other = {**SECOND_ADA, "given_name": "Edith", "family_name": "Cavell"}
    form = text(client.get("/staff/residents/new"))
    assert "different_person" not in form
    assert submit(client, "/staff/residents/new", other).status_code == 302


# --- the list and the pair ------------------------------------------------------------------


def _registered_online_twice(
    app: Flask, client: FlaskClient, make_resident: Callable[..., Resident]
) -> tuple[Resident, str, str]:
    """Ada registers online although staff made her a record: (existing, new id, pair id)."""
    existing = make_resident(email=None, password=None)
    registration = {
        **{k: v for k, v in SECOND_ADA.items() if k != "channel"},
        "email": "ada@example.com",
        "password": "a long enough password",
        "password_confirm": "a long enough password",
    }
    assert submit(client, "/register", registration).status_code == 302
    [pair] = _pairs(app)
    return existing, pair.new_resident_id, pair.id


def test_a_gateway_officer_lists_and_opens_a_pair_side_by_side(
    app: Flask,
    client: FlaskClient,
    staff_client: StaffClient,
    make_resident: Callable[..., Resident],
    audit_rows,
) -> None:
    existing, new_id, pair_id = _registered_online_twice(app, client, make_resident)
    officer, staff = staff_client()
    listing = _page(officer.get("/staff/duplicates"))
    assert "1 possible duplicate to check" in listing
    assert "Ada Lovelance" in listing and "Ada Lovelace" in listing
    assert "Registered online" in listing and f"/staff/duplicates/{pair_id}" in listing
    [listed] = audit_rows("staff.duplicates_listed")
    assert listed.resident_id is None and listed.details["listed"] == 1

    response = officer.get(f"/staff/duplicates/{pair_id}")
    assert response.status_code == 200
    page = _page(response)
    assert "Are these the same person?" in page
    assert "Sessions House" in page and "2 County Road" in page  # both records in full
    assert "ada@example.com" in page
    # Merging is a team leader's: the officer is told to ask one (tested below for them).
    assert f'href="/staff/residents/{existing.id}/merge?with={new_id}"' not in page
    assert "A Gateway team leader merges records: ask yours" in page
    looks = audit_rows("resident.viewed")
    assert sorted(a.resident_id for a in looks) == sorted([existing.id, new_id])
    assert all(
        a.actor_id == staff.id and a.reason and a.details["duplicate"] == pair_id for a in looks
    )


def test_not_the_same_person_needs_a_reason_then_resolves_the_pair(
    app: Flask,
    client: FlaskClient,
    staff_client: StaffClient,
    make_resident: Callable[..., Resident],
    audit_rows,
    snapshot,
) -> None:
    existing, new_id, pair_id = _registered_online_twice(app, client, make_resident)
    officer, staff = staff_client()
    url = f"/staff/duplicates/{pair_id}"
    officer.get(url)
    before = snapshot()
    empty = submit(officer, url, {"note": ""})
    assert empty.status_code == 400
    assert "Enter how you know this is a different person" in _page(empty)
    after = snapshot()  # only the looks at the two records were added
    assert {k: v for k, v in after.items() if k != "audit_records"} == {
        k: v for k, v in before.items() if k != "audit_records"
    }

    done = submit(officer, url, {"note": WHY})
    assert done.status_code == 302 and done.headers["Location"] == "/staff/duplicates"
    [pair] = _pairs(app)
    assert (pair.status, pair.note, pair.resolved_by_staff_id) == (
        DUPLICATE_NOT_SAME,
        WHY,
        staff.id,
    )
    assert pair.resolved_at is not None
    trail = audit_rows("duplicate.not_same")
    assert sorted(a.resident_id for a in trail) == sorted([existing.id, new_id])
    assert all(a.actor_id == staff.id and a.reason == WHY for a in trail)
    assert "no possible duplicates" in _page(officer.get("/staff/duplicates"))
    # Resolved already: the page says so, and a second answer is refused.
    again = officer.get(url)
    assert "Checked: these are different people" in _page(again)
    assert "Merge these records" not in _page(again)
    # As if the form had been left open while someone else answered.
    second = submit(officer, url, {"note": WHY}, page="/staff/duplicates")
    assert second.status_code == 400 and "already been checked" in _page(second)


@pytest.mark.parametrize("role", ["library-staff", "contact-centre-officer", "administrator"])
def test_other_roles_cannot_resolve(
    app: Flask,
    client: FlaskClient,
    staff_client: StaffClient,
    make_resident: Callable[..., Resident],
    role: str,
) -> None:
    _, _, pair_id = _registered_online_twice(app, client, make_resident)
    other, _ = staff_client(role)
    with other.session_transaction() as sess:
        sess["_csrf"] = "token"
    assert other.get(f"/staff/duplicates/{pair_id}").status_code == 403
    refused = other.post(f"/staff/duplicates/{pair_id}", data={"csrf_token": "token", "note": WHY})
    assert refused.status_code == 403
    assert [p.status for p in _pairs(app)] == [DUPLICATE_OPEN]


def test_an_unknown_pair_is_a_404(staff_client: StaffClient) -> None:
    officer, _ = staff_client()
    assert officer.get("/staff/duplicates/no-such-pair").status_code == 404


# --- the warning on a record ----------------------------------------------------------------


def test_a_record_with_an_open_pair_says_so(
    app: Flask, client: FlaskClient, staff_client: StaffClient, make_resident
) -> None:
    existing, new_id, pair_id = _registered_online_twice(app, client, make_resident)
    officer, _ = staff_client()
    for resident_id in (existing.id, new_id):
        open_record(officer, resident_id)
        page = _page(officer.get(f"/staff/residents/{resident_id}"))
        assert "may belong to the same person as another record" in page
        assert f'href="/staff/duplicates/{pair_id}"' in page
    library, _ = staff_client("library-staff")
    open_record(library, existing.id)
    page = _page(library.get(f"/staff/residents/{existing.id}"))
    assert "A Gateway officer will check it" in page and "/staff/duplicates/" not in page


def test_residents_see_the_check_in_their_activity(
    app: Flask, client: FlaskClient, staff_client: StaffClient, make_resident
) -> None:
    _, new_id, pair_id = _registered_online_twice(app, client, make_resident)
    officer, _ = staff_client()
    officer.get(f"/staff/duplicates/{pair_id}")
    submit(officer, f"/staff/duplicates/{pair_id}", {"note": WHY})
    with in_app(app):
        new = db_session.get(Resident, new_id)
        assert new is not None
        sign_in_client(app, client, new)
    page = _page(client.get("/account/activity"))
    assert "Checked against a record with a similar name: a different person" in page
    assert f"Reason: {WHY}" in page
    assert "looked like it might be yours" not in page  # that is on the other record


def test_a_pair_whose_older_record_was_erased_can_still_be_resolved(
    app: Flask, client: FlaskClient, staff_client: StaffClient, make_resident
) -> None:
    from idservice.services.your_data import erase

    existing, _, pair_id = _registered_online_twice(app, client, make_resident)
    with in_app(app):
        erase(existing.id, password=None, actor_type="system", channel="system")
    officer, _ = staff_client()
    assert "A record since erased" in _page(officer.get("/staff/duplicates"))
    assert "Erased" in _page(officer.get(f"/staff/duplicates/{pair_id}"))
    done = submit(officer, f"/staff/duplicates/{pair_id}", {"note": "The older record is erased"})
    assert done.status_code == 302
    assert [p.status for p in _pairs(app)] == [DUPLICATE_NOT_SAME]


def test_a_team_leader_is_offered_the_merge_of_a_pair(
    app: Flask,
    client: FlaskClient,
    staff_client: StaffClient,
    make_resident: Callable[..., Resident],
) -> None:
    existing, new_id, pair_id = _registered_online_twice(app, client, make_resident)
    leader, _ = staff_client("gateway-team-leader")
    page = _page(leader.get(f"/staff/duplicates/{pair_id}"))
    assert f'href="/staff/residents/{existing.id}/merge?with={new_id}"' in page
    assert "ask yours" not in page
