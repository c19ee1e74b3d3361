"""Least privilege: every role against every action, in the table and through the pages.

The expected matrix is written out here by hand, not derived from the permission table,
so a change to the table that nobody meant fails this test.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from idservice.models import Resident, StaffMember
from idservice.staff.permissions import POLICIES, Action, Role, allowed, reason_required
from tests.accounts.conftest import text

G, GL, L, C, T, AD, AU = (
    "gateway-officer",
    "gateway-team-leader",
    "library-staff",
    "contact-centre-officer",
    "transport-officer",
    "administrator",
    "auditor",
)
ALLOWED = {
    "search": {G, GL, L, C, T, AD},
    "view-record": {G, GL, L, C, T, AD},
    "change-details": {G, GL, L, C},
    "record-evidence": {G, GL, L},
    "register-resident": {G, GL, L, C},
    "read-audit": {AD, AU},
    "view-cards": {G, GL, L, T},
    "issue-card": {G, GL, L},
    "report-card": {G, GL, L},
    "unblock-pin": {G, GL, L},
    "record-life-event": {G, GL, C},
    "view-partner-events": {AD},
    "add-service": {G, GL, L, C},
    "record-fact": {G, GL, L},
    "decide-request": {G, GL},
    "resolve-duplicates": {G, GL},
    # One person's two records: moves services, cards and partners' identifiers.
    "merge-records": {GL},
    # The reader fleet: readers' state, no resident's data.
    "view-readers": {T, AD},
}
REASON_REQUIRED = {G, GL, L, C, AD}
ROLES = [G, GL, L, C, T, AD, AU]

#: One page per action: (method, path with {rid} for a resident).
PAGES = {
    "search": "/staff/search",
    "view-record": "/staff/residents/{rid}/open",
    "change-details": "/staff/residents/{rid}/change/address",
    "record-evidence": "/staff/residents/{rid}/evidence",
    "register-resident": "/staff/residents/new",
    "read-audit": "/staff/audit",
    "issue-card": "/staff/residents/{rid}/cards/issue",
    "record-life-event": "/staff/residents/{rid}/life-events/death",
    "view-partner-events": "/staff/partner-events",
    "add-service": "/staff/residents/{rid}/services",
    "record-fact": "/staff/residents/{rid}/facts/new",
    "decide-request": "/staff/requests",
    "resolve-duplicates": "/staff/duplicates",
    "merge-records": "/staff/residents/{rid}/merge",
    "view-readers": "/staff/readers",
    # view-cards is a section of the record, not a page: tests/staff/test_cards_console.py
}


def test_every_role_and_action_is_in_the_expected_matrix() -> None:
    assert {r.value for r in Role} == set(ROLES)
    assert {a.value for a in Action} == set(ALLOWED)
    assert set(POLICIES) == set(Role)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", sorted(ALLOWED))
def test_permission_table(role: str, action: str) -> None:
    assert allowed(role, Action(action)) is (role in ALLOWED[action])


@pytest.mark.parametrize("role", ROLES)
def test_reason_required(role: str) -> None:
    assert reason_required(role) is (role in REASON_REQUIRED)


def test_an_unknown_role_may_do_nothing() -> None:
    assert not any(allowed("caretaker", action) for action in Action)
    assert reason_required("caretaker")


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", sorted(PAGES))
def test_pages_follow_the_matrix_and_refusals_are_audited(
    role: str,
    action: str,
    staff_client: Callable[..., tuple[FlaskClient, StaffMember]],
    make_resident: Callable[..., Resident],
    audit_rows,
) -> None:
    resident = make_resident()
    client, staff = staff_client(role)
    response = client.get(PAGES[action].format(rid=resident.id))
    refusals = audit_rows("staff.access_refused")
    if role in ALLOWED[action]:
        assert response.status_code in (200, 302)
        assert refusals == []
    else:
        assert response.status_code == 403
        assert "You cannot do this" in text(response)
        assert "does not allow you to" in text(response)
        assert len(refusals) == 1
        refusal = refusals[0]
        assert (refusal.actor_type, refusal.actor_id, refusal.channel) == ("staff", staff.id, "web")
        assert refusal.details == {"staff_role": role, "permission": action}
        expected_resident = resident.id if "{rid}" in PAGES[action] else None
        assert refusal.resident_id == expected_resident


def test_a_refused_post_changes_nothing(
    app: Flask,
    staff_client: Callable[..., tuple[FlaskClient, StaffMember]],
    make_resident: Callable[..., Resident],
    reload: Callable[[str], Resident],
) -> None:
    resident = make_resident()
    client, _staff = staff_client(T)
    with client.session_transaction() as sess:
        sess["_csrf"] = "token"
    response = client.post(
        f"/staff/residents/{resident.id}/change/phone",
        data={"csrf_token": "token", "phone": "07700 900 982"},
    )
    assert response.status_code == 403
    assert reload(resident.id).phone is None


def test_the_resident_sees_a_refused_attempt(
    app: Flask,
    staff_client: Callable[..., tuple[FlaskClient, StaffMember]],
    make_resident: Callable[..., Resident],
) -> None:
    from tests.factories import sign_in_client

    resident = make_resident()
    client, _staff = staff_client(T)
    assert client.get(f"/staff/residents/{resident.id}/evidence").status_code == 403
    own = app.test_client()
    sign_in_client(app, own, resident)
    page = text(own.get("/account/activity"))
    assert "A transport officer" in page
    assert "They tried to record proof of identity" in page
