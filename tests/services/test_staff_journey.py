"""The same journey from the staff console, recording facts from documents, and the
queue where a Gateway officer approves or refuses a request."""

from __future__ import annotations

from datetime import date

from flask import Flask

from entitlements.ledger.events import Channel, EventKind
from tests.accounts.conftest import csrf_from, submit, text
from tests.factories import sign_in_client
from tests.staff.conftest import open_record, personal_values


def _request_for_bus_pass(client, resident_id: str) -> None:
    url = f"/staff/residents/{resident_id}/services/bus-pass-older/check"
    page = client.get(url)
    assert page.status_code == 200, text(page)
    response = client.post(url, data={"csrf_token": csrf_from(page)})
    assert response.status_code == 302


def test_staff_add_a_service_for_the_resident_recorded_as_assisted(
    staff_client, make_resident, ledger_events, audit_rows, app: Flask
) -> None:
    ada = make_resident()
    client, staff = staff_client("contact-centre-officer")
    open_record(client, ada.id, channel="phone", reason="Resident phoned to join the library")
    record = text(client.get(f"/staff/residents/{ada.id}"))
    assert "Add a service" in record and "Record a fact" not in record  # no documents by phone
    listing = text(client.get(f"/staff/residents/{ada.id}/services"))
    assert "Services the resident can add" in listing
    check = client.get(f"/staff/residents/{ada.id}/services/library/check")
    response = client.post(
        f"/staff/residents/{ada.id}/services/library/check", data={"csrf_token": csrf_from(check)}
    )
    assert response.headers["Location"] == f"/staff/residents/{ada.id}/services/library/outcome"
    assert "Library membership added" in text(client.get(response.headers["Location"]))
    [(_, event)] = ledger_events()
    assert (event.kind, event.actor, event.channel) == (EventKind.GRANT, staff.id, Channel.PHONE)
    [granted] = audit_rows("service.granted", ada.id)
    assert (granted.actor_type, granted.actor_id, granted.channel) == ("staff", staff.id, "phone")
    assert granted.details["assisted"] is True
    assert granted.details["staff_role"] == "contact-centre-officer"
    assert granted.reason == "Resident phoned to join the library"
    # The resident sees who helped, how and why.
    own = app.test_client()
    sign_in_client(app, own, ada)
    activity = text(own.get("/account/activity"))
    assert "Service added" in activity and "A contact centre officer" in activity


def test_staff_see_that_an_edinburgh_address_is_not_in_kent_and_where_to_send_the_resident(
    staff_client, make_resident, ledger_events
) -> None:
    resident = make_resident(postcode="EH1 1YZ", date_of_birth=date(1950, 1, 1))
    client, _ = staff_client()
    open_record(client, resident.id)
    base = f"/staff/residents/{resident.id}/services/bus-pass-older"
    check = text(client.get(f"{base}/check"))
    assert "the resident cannot get Older person" in check
    assert "not in Kent: it is in Scotland" in check and "proof of your address" not in check
    assert "Apply to the council for that address instead." in check
    assert ledger_events() == []


def test_staff_question_pages_record_self_declared_facts_by_the_staff_member(
    staff_client, make_resident, stored_facts
) -> None:
    resident = make_resident(date_of_birth=date(1980, 1, 1))
    client, staff = staff_client()
    open_record(client, resident.id)
    base = f"/staff/residents/{resident.id}/services/bus-pass-disabled"
    assert "Ask the resident" in text(client.get(f"{base}/question/disability"))
    submit(client, f"{base}/question/disability", {"answer": "a"})
    check = client.get(f"{base}/check")
    client.post(f"{base}/check", data={"csrf_token": csrf_from(check)})
    [fact] = stored_facts(resident.id, name="disability")
    assert (fact.source, fact.level, fact.recorded_by_type, fact.recorded_by_id) == (
        "self-declared",
        1,
        "staff",
        staff.id,
    )
    assert fact.channel == "face-to-face"


def test_record_a_fact_seen_supersedes_and_keeps_history(
    staff_client, make_resident, stored_facts, audit_rows
) -> None:
    resident = make_resident(date_of_birth=date(1948, 6, 2))
    client, staff = staff_client()
    open_record(client, resident.id)
    chosen = submit(client, f"/staff/residents/{resident.id}/facts/new", {"fact": "date_of_birth"})
    url = f"/staff/residents/{resident.id}/facts/date_of_birth"
    assert chosen.headers["Location"] == url
    form = {
        "date_of_birth-day": "2",
        "date_of_birth-month": "6",
        "date_of_birth-year": "1948",
        "evidence_type": "passport",
        "reference": "50 12 34567",
    }
    response = submit(client, url, form)
    assert response.status_code == 302, text(response)
    rows = stored_facts(resident.id, name="date_of_birth")
    assert len(rows) == 2 and rows[0].superseded_at is not None  # the self-declared one
    new = rows[1]
    assert (new.source, new.level, new.evidence_type, new.evidence_last4) == (
        "staff-seen-document",
        2,
        "passport",
        "4567",
    )
    assert new.recorded_by_id == staff.id and new.superseded_at is None
    [audit] = [a for a in audit_rows("fact.recorded", resident.id) if a.actor_type == "staff"]
    assert audit.details["fact"] == "date_of_birth" and audit.details["evidence_type"] == "passport"
    for value in [*personal_values(resident), "501234567", "4567"]:
        assert value not in str(audit.details)
    # The same fact again from the same kind of document changes nothing.
    submit(client, url, form)
    assert len(stored_facts(resident.id, name="date_of_birth")) == 2


def test_queue_approve_needs_evidence_first_then_grants(
    staff_client, make_resident, ledger_events, stored_requests, audit_rows, app: Flask
) -> None:
    grace = make_resident(date_of_birth=date(1948, 6, 2), given_name="Grace")
    client, staff = staff_client()
    open_record(client, grace.id)
    _request_for_bus_pass(client, grace.id)
    [request] = stored_requests(grace.id)
    assert request.requested_by_staff_id == staff.id and request.channel == "face-to-face"
    queue = text(client.get("/staff/requests"))
    assert "Grace Lovelace" in queue and "Older person" in queue
    assert len(audit_rows("staff.viewed_requests")) == 1
    decide = f"/staff/residents/{grace.id}/requests/{request.id}"
    page = client.get(decide)
    assert "Record it" in text(page)
    early = client.post(decide, data={"decision": "approve", "csrf_token": csrf_from(page)})
    assert early.status_code == 400 and "Record what you have seen first" in text(early)
    assert ledger_events() == []
    for fact, answers in (
        (
            "date_of_birth",
            {"date_of_birth-day": "2", "date_of_birth-month": "6", "date_of_birth-year": "1948"},
        ),
        ("address", {"confirm": "yes"}),
    ):
        kind, ref = ("passport", "P1234567") if fact == "date_of_birth" else ("bank-statement", "1")
        recorded = submit(
            client,
            f"/staff/residents/{grace.id}/facts/{fact}?request={request.id}",
            {**answers, "evidence_type": kind, "reference": f"{ref}9887766"},
        )
        assert recorded.headers["Location"] == decide
    page = client.get(decide)
    response = client.post(decide, data={"decision": "approve", "csrf_token": csrf_from(page)})
    assert response.status_code == 302, text(response)
    [(seq, event)] = ledger_events()
    assert (event.kind, event.service, event.actor) == (EventKind.GRANT, "bus-pass-older", staff.id)
    assert f"request:{request.id}" in event.evidence
    assert sum(ref.startswith("fact:") for ref in event.evidence) == 2
    approved = stored_requests(grace.id)[0]
    assert (approved.status, approved.decided_by_staff_id, approved.ledger_seq) == (
        "approved",
        staff.id,
        seq,
    )
    assert len(audit_rows("service.request_approved", grace.id)) == 1
    assert "No requests are waiting" in text(client.get("/staff/requests"))
    again = client.post(decide, data={"decision": "approve", "csrf_token": csrf_from(page)})
    assert again.status_code == 400 and "already been decided" in text(again)


def test_refuse_needs_a_reason_which_the_resident_sees(
    staff_client, make_resident, stored_requests, app: Flask
) -> None:
    grace = make_resident(date_of_birth=date(1948, 6, 2))
    client, _ = staff_client()
    open_record(client, grace.id)
    _request_for_bus_pass(client, grace.id)
    [request] = stored_requests(grace.id)
    decide = f"/staff/residents/{grace.id}/requests/{request.id}"
    page = client.get(decide)
    empty = client.post(decide, data={"decision": "refuse", "csrf_token": csrf_from(page)})
    assert empty.status_code == 400 and "Enter why the request is refused" in text(empty)
    assert 'value="refuse" checked' in text(empty)
    assert stored_requests(grace.id)[0].status == "waiting"
    why = "The passport shown had expired. Bring a current one"
    client.post(decide, data={"decision": "refuse", "why": why, "csrf_token": csrf_from(page)})
    assert stored_requests(grace.id)[0].status == "refused"
    own = app.test_client()
    sign_in_client(app, own, grace)
    assert why in text(own.get(f"/account/services/requests/{request.id}"))


def test_a_request_from_another_record_is_not_found(
    staff_client, make_resident, stored_requests
) -> None:
    grace = make_resident(date_of_birth=date(1948, 6, 2))
    other = make_resident(email="someone-else@example.com")
    client, _ = staff_client()
    open_record(client, grace.id)
    _request_for_bus_pass(client, grace.id)
    [request] = stored_requests(grace.id)
    open_record(client, other.id)
    assert client.get(f"/staff/residents/{other.id}/requests/{request.id}").status_code == 404


def test_library_staff_cannot_decide_and_see_no_decide_link(
    staff_client, make_resident, stored_requests
) -> None:
    grace = make_resident(date_of_birth=date(1948, 6, 2))
    client, _ = staff_client("library-staff")
    open_record(client, grace.id)
    _request_for_bus_pass(client, grace.id)
    outcome = text(client.get(f"/staff/residents/{grace.id}/services/bus-pass-older/outcome"))
    assert "Request sent" in outcome and "Decide the request" not in outcome
    [request] = stored_requests(grace.id)
    assert client.get(f"/staff/residents/{grace.id}/requests/{request.id}").status_code == 403
