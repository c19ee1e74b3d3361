"""Merging and undoing through the staff console's real pages and forms: both records side
by side, errors next to the field with nothing written, the confirmation, the undo and
the day it can no longer be undone."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from idservice.db import db_session
from idservice.models import Resident, ResidentMerge, StaffMember
from tests.accounts.conftest import csrf_from, in_app, text
from tests.cards.conftest import grant
from tests.staff.conftest import open_record

StaffClient = Callable[..., tuple[FlaskClient, StaffMember]]
LEADER = "gateway-team-leader"
REASON = "Registered online and again at the Gateway"


def _two(make_resident: Callable[..., Resident]) -> tuple[Resident, Resident]:
    kept = make_resident(email="ada@example.com")
    other = make_resident(email=None, password=None, email_confirmed=False, phone="07700900982")
    return kept, other


def _merge(client: FlaskClient, kept: str, other: str, **data: str) -> Any:
    page = client.get(f"/staff/residents/{kept}/merge?with={other}")
    assert page.status_code == 200, text(page)
    form = {"with": other, "csrf_token": csrf_from(page), **data}
    return client.post(f"/staff/residents/{kept}/merge", data=form)


def test_the_page_asks_for_the_record_to_be_opened_first_then_comes_back(
    staff_client: StaffClient, make_resident: Callable[..., Resident]
) -> None:
    kept, other = _two(make_resident)
    client, _ = staff_client(LEADER)
    url = f"/staff/residents/{kept.id}/merge?with={other.id}"
    first = client.get(url)
    assert first.status_code == 302 and "/open?next=" in first.headers["Location"]
    opened = open_record(client, kept.id)  # the form carries where to go next
    assert opened.status_code == 302
    page = client.get(first.headers["Location"])
    assert csrf_from(page)
    response = client.post(
        first.headers["Location"],
        data={
            "channel": "face-to-face",
            "reason": "Resident at the desk",
            "csrf_token": csrf_from(page),
        },
    )
    assert response.headers["Location"] == url
    # Somewhere outside the console is never where it goes next.
    outside = client.get(f"/staff/residents/{kept.id}/open?next=https://example.com/")
    assert "https://example.com" not in text(outside)


def test_both_records_side_by_side_and_what_will_move(
    app: Flask, staff_client: StaffClient, make_resident: Callable[..., Resident], audit_rows
) -> None:
    kept, other = _two(make_resident)
    grant(app, other.id, "bus-pass-older")
    client, _ = staff_client(LEADER)
    open_record(client, kept.id)
    start = client.get(f"/staff/residents/{kept.id}/merge")
    assert "Reference of the record to merge into this one" in text(start)
    page = client.get(f"/staff/residents/{kept.id}/merge?with={other.id}")
    assert page.status_code == 200
    body = text(page)
    assert "Record kept (open now)" in body and "Record to merge into it" in body
    assert "ada@example.com" in body and "07700 900982" in body.replace(
        "07700900982", "07700 900982"
    )
    assert "Older person&#39;s bus pass" in body and "moves" in body
    assert f"/staff/residents/{other.id}/merge?with={kept.id}" in body  # keep the other instead
    screens = [r.details.get("screen") for r in audit_rows("resident.viewed", other.id)]
    assert "merge: the record to merge" in screens


@pytest.mark.parametrize(
    ("other", "message"),
    [
        ("itself", "This is the record you have open"),
        ("not-a-reference", "Enter a resident reference in the correct format"),
        ("2f1c1a5e-3d4b-4c8e-9f7a-0b1c2d3e4f5a", "There is no record with this reference"),
        ("", "Enter the reference of the other record"),
    ],
)
def test_a_wrong_reference_is_shown_next_to_the_field(
    staff_client: StaffClient,
    make_resident: Callable[..., Resident],
    snapshot: Callable[[], dict[str, Any]],
    other: str,
    message: str,
) -> None:
    kept, _ = _two(make_resident)
    client, _ = staff_client(LEADER)
    open_record(client, kept.id)
    reference = kept.id if other == "itself" else other
    before = snapshot()
    response = client.get(f"/staff/residents/{kept.id}/merge?with={reference}")
    assert response.status_code == 400
    body = text(response)
    assert 'id="with-error"' in body and message in body
    assert 'href="#with"' in body  # the error summary links to the field
    assert f'value="{reference}"' in body  # what was typed is kept
    assert snapshot() == before


def test_missing_reason_and_confirmation_write_nothing(
    staff_client: StaffClient,
    make_resident: Callable[..., Resident],
    snapshot: Callable[[], dict[str, Any]],
    reload: Callable[[str], Resident],
) -> None:
    kept, other = _two(make_resident)
    client, _ = staff_client(LEADER)
    open_record(client, kept.id)
    client.get(f"/staff/residents/{kept.id}/merge?with={other.id}")
    before = {k: v for k, v in snapshot().items() if k != "audit_records"}
    response = _merge(client, kept.id, other.id, reason="no")
    assert response.status_code == 400
    body = text(response)
    assert "Reason must be 5 characters or more" in body and 'id="reason-error"' in body
    assert "Confirm you have checked that both records are the same person" in body
    assert 'value="no"' in body
    assert {k: v for k, v in snapshot().items() if k != "audit_records"} == before
    assert reload(other.id).status == "active"


def test_merge_confirm_then_undo_through_the_pages(
    app: Flask,
    staff_client: StaffClient,
    make_resident: Callable[..., Resident],
    reload: Callable[[str], Resident],
) -> None:
    kept, other = _two(make_resident)
    grant(app, other.id, "bus-pass-older")
    client, _ = staff_client(LEADER)
    open_record(client, kept.id)
    response = _merge(client, kept.id, other.id, reason=REASON, confirm="yes")
    assert response.status_code == 302
    done_url = response.headers["Location"]
    merge_id = done_url.rsplit("/", 1)[1]
    assert done_url == f"/staff/merges/{merge_id}"
    assert (reload(other.id).status, reload(other.id).merged_into_id) == ("merged", kept.id)
    done = text(client.get(done_url))
    assert "Records merged" in done and REASON in done and "Older person&#39;s bus pass" in done
    assert f"/staff/merges/{merge_id}/undo" in done
    # Both records say so.
    assert "Record merged into this one" in text(client.get(f"/staff/residents/{kept.id}"))
    open_record(client, other.id)
    merged_page = text(client.get(f"/staff/residents/{other.id}"))
    assert "This record was merged into" in merged_page and kept.id in merged_page
    assert "Merge another record" not in merged_page
    # The merged record cannot take another merge, nor be merged into.
    again = client.get(f"/staff/residents/{kept.id}/merge?with={other.id}")
    assert again.status_code == 400 and "already been merged into the record you have" in text(
        again
    )

    undo_url = f"/staff/merges/{merge_id}/undo"
    page = client.get(undo_url)
    assert page.status_code == 200 and "Undo the merge" in text(page)
    empty = client.post(undo_url, data={"csrf_token": csrf_from(page)})
    assert empty.status_code == 400 and "Enter why you are undoing this merge" in text(empty)
    assert reload(other.id).status == "merged"
    undone = client.post(
        undo_url, data={"csrf_token": csrf_from(page), "reason": "Two people", "confirm": "yes"}
    )
    assert undone.status_code == 302 and undone.headers["Location"] == done_url
    assert (reload(other.id).status, reload(other.id).merged_into_id) == ("active", None)
    summary = text(client.get(done_url))
    assert "Merge undone" in summary and "Two people" in summary
    assert "Undo this merge" not in summary


def test_after_the_undo_window_the_page_says_why_and_refuses(
    app: Flask,
    staff_client: StaffClient,
    make_resident: Callable[..., Resident],
    reload: Callable[[str], Resident],
) -> None:
    kept, other = _two(make_resident)
    client, _ = staff_client(LEADER)
    open_record(client, kept.id)
    merge_id = (
        _merge(client, kept.id, other.id, reason=REASON, confirm="yes")
        .headers["Location"]
        .rsplit("/", 1)[1]
    )
    with in_app(app):
        row = db_session.get(ResidentMerge, merge_id)
        assert row is not None
        row.merged_at = row.merged_at - timedelta(days=31)
        db_session.commit()
    page = client.get(f"/staff/merges/{merge_id}/undo")
    assert page.status_code == 200
    body = text(page)
    assert "can no longer be undone" in body and "more than 30 days ago" in body
    assert 'name="reason"' not in body
    with client.session_transaction() as sess:
        sess["_csrf"] = "token"
    refused = client.post(
        f"/staff/merges/{merge_id}/undo",
        data={"csrf_token": "token", "reason": "Two people", "confirm": "yes"},
    )
    assert refused.status_code == 409 and "can no longer be undone" in text(refused)
    assert reload(other.id).status == "merged"
    assert "Undo this merge" not in text(client.get(f"/staff/merges/{merge_id}"))


@pytest.mark.parametrize(
    "path",
    [
        "/staff/residents/{kept}/merge?with={other}",
        "/staff/merges/{merge}",
        "/staff/merges/{merge}/undo",
    ],
)
def test_a_gateway_officer_cannot_merge_or_undo(
    staff_client: StaffClient,
    make_resident: Callable[..., Resident],
    audit_rows,
    path: str,
) -> None:
    kept, other = _two(make_resident)
    leader, _ = staff_client(LEADER)
    open_record(leader, kept.id)
    location = _merge(leader, kept.id, other.id, reason=REASON, confirm="yes").headers["Location"]
    officer, staff = staff_client("gateway-officer")
    open_record(officer, kept.id)
    url = path.format(kept=kept.id, other=other.id, merge=location.rsplit("/", 1)[1])
    response = officer.get(url)
    assert response.status_code == 403 and "merge two records of one person" in text(response)
    refusal = audit_rows("staff.access_refused")[-1]
    assert (refusal.actor_id, refusal.details["permission"]) == (staff.id, "merge-records")
    if path != "/staff/merges/{merge}":  # the two forms
        with officer.session_transaction() as sess:
            sess["_csrf"] = "token"
        data = {"csrf_token": "token", "reason": REASON, "confirm": "yes", "with": other.id}
        assert officer.post(url, data=data).status_code == 403


def test_a_merged_record_is_found_by_reference_and_says_where_it_went(
    staff_client: StaffClient, make_resident: Callable[..., Resident]
) -> None:
    kept, other = _two(make_resident)
    client, _ = staff_client(LEADER)
    open_record(client, kept.id)
    _merge(client, kept.id, other.id, reason=REASON, confirm="yes")
    page = client.get("/staff/search")
    found = client.post(
        "/staff/search", data={"reference": other.id, "csrf_token": csrf_from(page)}
    )
    body = text(found)
    assert "1 resident found" in body and "Merged" in body
    assert re.search(rf'href="/staff/residents/{kept.id}/open"', body)
    by_name = client.post(
        "/staff/search",
        data={
            "family_name": "Lovelace",
            "date_of_birth-day": "10",
            "date_of_birth-month": "12",
            "date_of_birth-year": "1956",
            "csrf_token": csrf_from(page),
        },
    )
    assert "1 resident found" in text(by_name) and other.id not in text(by_name)


def test_an_unknown_record_or_merge_is_a_404(staff_client: Callable[..., Any]) -> None:
    client, _ = staff_client(LEADER)
    assert client.get("/staff/residents/no-such-resident/merge").status_code == 404
    assert client.get("/staff/merges/no-such-merge").status_code == 404
    assert client.get("/staff/merges/no-such-merge/undo").status_code == 404
