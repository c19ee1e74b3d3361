"""Evidence once: identity documents recorded in the staff console record the facts they
prove at the same time, so a request waiting for proof can be decided without typing
the same details again in another form."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from flask import Flask

from entitlements.facts import FactName
from entitlements.ledger.events import EventKind
from idservice.services import accounts
from idservice.staff.evidence import EvidenceRefused, Seen
from idservice.staff.evidence import record_evidence as record_evidence_service
from idservice.staff.services import Access
from tests.accounts.conftest import csrf_from, in_app, submit, text
from tests.staff.conftest import open_record, personal_values, record_evidence
from tests.staff.test_console import NEW_RESIDENT
from tests.staff.test_identity import assert_only_looked_at

ADA = {
    **NEW_RESIDENT,
    "given_name": "Ada",
    "family_name": "Lovelace",
    "date_of_birth-day": "10",
    "date_of_birth-month": "12",
    "date_of_birth-year": "1956",
    "address_line_1": "Sessions House",
    "town": "Maidstone",
    "postcode": "ME14 1XQ",
}


def _record_evidence(client, resident_id: str, kind: str, reference: str, confirm: dict):
    """The evidence form as a Gateway officer uses it: the document, then what it shows."""
    chosen = submit(client, f"/staff/residents/{resident_id}/evidence", {"document_type": kind})
    assert chosen.status_code == 302, text(chosen)
    page = client.get(chosen.headers["Location"])
    assert page.status_code == 200
    done = client.post(
        chosen.headers["Location"],
        data={"reference": reference, **confirm, "csrf_token": csrf_from(page)},
    )
    assert done.status_code == 302, text(done)
    return text(page)


def test_a_passport_and_a_council_tax_bill_check_the_bus_pass_facts_with_no_other_form(
    staff_client, stored_requests, stored_facts, ledger_events, app: Flask
) -> None:
    client, staff = staff_client("gateway-officer")
    registered = submit(client, "/staff/residents/new", ADA)
    assert registered.status_code == 302, text(registered)
    ada_id = registered.headers["Location"].rsplit("/", 1)[-1]
    check = f"/staff/residents/{ada_id}/services/bus-pass-older/check"
    page = client.get(check)
    assert client.post(check, data={"csrf_token": csrf_from(page)}).status_code == 302
    [waiting] = stored_requests(ada_id)
    decide = f"/staff/residents/{ada_id}/requests/{waiting.id}"
    assert text(client.get(decide)).count("Not checked: you told us") == 2

    passport = _record_evidence(
        client, ada_id, "passport", "123 456 789", {"confirm": "date_of_birth"}
    )
    assert "10 December 1956" in passport
    bill = _record_evidence(
        client, ada_id, "council-tax-bill", "CT-99-1234", {"confirm": "address"}
    )
    assert "ME14 1XQ" in bill and "Sessions House" in bill

    facts = {row.name: row for row in stored_facts(ada_id, current=True)}
    assert (facts["date_of_birth"].level, facts["date_of_birth"].evidence_type) == (2, "passport")
    assert facts["date_of_birth"].value == {"v": date(1956, 12, 10).isoformat()}
    assert facts["address"].source == "staff-seen-document"
    assert (facts["address"].evidence_type, facts["address"].evidence_last4) == (
        "council-tax-bill",
        "1234",
    )
    record = text(client.get(f"/staff/residents/{ada_id}"))
    assert "Ready to decide" in record
    shown = text(client.get(decide))
    assert "Not checked" not in shown
    assert "Checked: council staff saw a document (Passport ending 6789)" in shown
    assert "Checked: council staff saw a document (Council Tax bill ending 1234)" in shown

    approved = client.post(decide, data={"decision": "approve", "csrf_token": csrf_from(page)})
    assert approved.status_code == 302, text(approved)
    [(_, event)] = ledger_events()
    assert (event.kind, event.service, event.actor) == (EventKind.GRANT, "bus-pass-older", staff.id)
    assert stored_requests(ada_id)[0].status == "approved"


def test_a_driving_licence_records_both_and_asks_for_both_confirmations(
    staff_client, make_resident, stored_facts, audit_rows, snapshot
) -> None:
    resident = make_resident()
    client, staff = staff_client()
    open_record(client, resident.id, reason="Resident applying for a bus pass")
    before = snapshot()
    half = record_evidence(
        client,
        resident.id,
        "driving-licence",
        "LOVEL612106AA9XY",
        confirm=False,
        confirm_values=["date_of_birth"],
    )
    assert half.status_code == 400
    html = text(half)
    assert "Confirm the document shows the address on the record" in html
    assert 'id="confirm-error"' in html and 'value="LOVEL612106AA9XY"' in html
    assert 'value="date_of_birth" checked' in html and 'value="address" checked' not in html
    assert "Change the record's address" in html and "Change the record's date of birth" in html
    assert_only_looked_at(before, snapshot())

    done = record_evidence(client, resident.id, "driving-licence", "LOVEL612106AA9XY")
    assert done.status_code == 302
    current = {r.name: r for r in stored_facts(resident.id, current=True)}
    for name in ("date_of_birth", "address"):
        row = current[name]
        assert (row.source, row.level, row.evidence_type, row.evidence_last4) == (
            "staff-seen-document",
            2,
            "driving-licence",
            "A9XY",
        )
        assert row.recorded_by_id == staff.id
    [recorded] = audit_rows("identity.evidence_recorded", resident.id)
    assert recorded.details["facts"] == ["date_of_birth", "address"]
    assert recorded.reason == "Resident applying for a bus pass"
    facts_audited = [a for a in audit_rows("fact.recorded", resident.id) if a.actor_type == "staff"]
    assert [(a.details["fact"], a.details["evidence_type"]) for a in facts_audited] == [
        ("date_of_birth", "driving-licence"),
        ("address", "driving-licence"),
    ]
    for audit in [recorded, *facts_audited]:
        for value in [*personal_values(resident), "LOVEL612106AA9XY", "1956-12-10"]:
            assert value not in str(audit.details)
    # A passport afterwards shows the same date of birth in another document: it is
    # recorded as seen again (a renewal that asks to see proof afresh counts it).
    again = record_evidence(client, resident.id, "passport", "501234567")
    assert again.status_code == 302
    banner = text(client.get(again.headers["Location"]))
    assert "Recorded from it: date of birth" in banner
    rows = stored_facts(resident.id, name="date_of_birth")
    assert [r.evidence_type for r in rows] == [None, "driving-licence", "passport"]


def test_a_dwp_check_records_the_facts_as_confirmed(staff_client, make_resident, stored_facts):
    resident = make_resident()
    client, _ = staff_client()
    open_record(client, resident.id)
    assert record_evidence(client, resident.id, "dwp-hmrc-check", "DWP-77-1234").status_code == 302
    current = {r.name: r for r in stored_facts(resident.id, current=True)}
    assert {(current[n].source, current[n].level) for n in ("date_of_birth", "address")} == {
        ("government-department", 3)
    }


def test_an_award_letter_needs_the_award_and_records_it_with_its_end(
    staff_client, make_resident, stored_facts, reload
) -> None:
    resident = make_resident()
    client, _ = staff_client()
    open_record(client, resident.id)
    ends = date.today() + timedelta(days=300)
    missing = record_evidence(client, resident.id, "benefit-award-letter", "QQ123456C")
    assert missing.status_code == 400 and "Select the award the letter shows" in text(missing)
    past = record_evidence(
        client,
        resident.id,
        "benefit-award-letter",
        "QQ123456C",
        qualifying_award="pip_moving_around_8",
        **{"award_ends-day": "1", "award_ends-month": "1", "award_ends-year": "2020"},
    )
    assert past.status_code == 400 and "The date the award ends must be in the future" in text(past)
    assert 'value="pip_moving_around_8" checked' in text(past) and 'value="2020"' in text(past)
    assert stored_facts(resident.id, name="qualifying_award") == []
    done = record_evidence(
        client,
        resident.id,
        "benefit-award-letter",
        "QQ123456C",
        qualifying_award="pip_moving_around_8",
        **{
            "award_ends-day": str(ends.day),
            "award_ends-month": str(ends.month),
            "award_ends-year": str(ends.year),
        },
    )
    assert done.status_code == 302, text(done)
    [award] = stored_facts(resident.id, name="qualifying_award")
    assert award.value == {"v": "pip_moving_around_8"} and award.expires_on == ends
    assert (award.source, award.level, award.evidence_type) == (
        "staff-seen-document",
        2,
        "benefit-award-letter",
    )
    assert reload(resident.id).identity_level == "self-declared"  # not proof of identity


def test_a_bill_for_a_boundary_postcode_asks_whether_the_address_is_in_kent(
    staff_client, make_resident, stored_facts
) -> None:
    resident = make_resident(postcode="ME5 9AA")
    client, _ = staff_client()
    open_record(client, resident.id)
    unanswered = record_evidence(client, resident.id, "council-tax-bill", "CT12345678")
    assert unanswered.status_code == 400
    assert "Part of the ME5 postcode district is in Kent" in text(unanswered)
    assert "Select yes if the document shows the address is in Kent" in text(unanswered)
    done = record_evidence(
        client, resident.id, "council-tax-bill", "CT12345678", lives_in_kent="yes"
    )
    assert done.status_code == 302
    current = {r.name: r for r in stored_facts(resident.id, current=True)}
    assert current["lives_in_kent"].value == {"v": True}
    assert current["lives_in_kent"].evidence_type == "council-tax-bill"
    # In the middle of Maidstone the postcode says it all: nothing more is asked.
    other = make_resident(given_name="Grace")
    open_record(client, other.id)
    assert record_evidence(client, other.id, "utility-bill", "EL99887766").status_code == 302
    assert "lives_in_kent" not in {r.name for r in stored_facts(other.id, current=True)}


def test_a_record_changed_while_the_page_was_open_is_not_recorded_as_seen(
    app: Flask, staff_client, make_resident, snapshot
) -> None:
    resident = make_resident()
    client, _ = staff_client()
    open_record(client, resident.id)
    chosen = submit(
        client, f"/staff/residents/{resident.id}/evidence", {"document_type": "passport"}
    )
    page = client.get(chosen.headers["Location"])
    shown = re.search(r'name="shown" value="([0-9a-f]+)"', text(page)).group(1)
    with in_app(app):  # another officer corrects the date of birth meanwhile
        accounts.update_details(
            resident.id,
            {"date_of_birth": date(1957, 1, 2)},
            actor_type="system",
            actor_id="tests",
            channel="system",
        )
    before = snapshot()
    stale = client.post(
        chosen.headers["Location"],
        data={
            "reference": "501234567",
            "confirm": "date_of_birth",
            "shown": shown,
            "csrf_token": csrf_from(page),
        },
    )
    assert stale.status_code == 400
    html = text(stale)
    assert "The resident&#39;s record changed while this page was open" in html
    assert "2 January 1957" in html and 'value="501234567"' in html
    assert 'value="date_of_birth" checked' not in html  # confirm the new date afresh
    assert snapshot() == before


def test_the_service_refuses_evidence_without_the_facts_it_proves(
    app: Flask, make_resident, make_staff, snapshot
) -> None:
    resident = make_resident()
    staff = make_staff()
    access = Access(resident.id, "face-to-face", "Resident at the desk")
    before = snapshot()
    with app.test_request_context(), pytest.raises(EvidenceRefused) as refused:
        record_evidence_service(staff, access, "passport", "501234567", Seen())
    assert refused.value.field == "confirm"
    with app.test_request_context(), pytest.raises(EvidenceRefused):
        record_evidence_service(
            staff,
            access,
            "passport",
            "501234567",
            Seen(confirmed=frozenset({FactName.DATE_OF_BIRTH, FactName.ADDRESS})),
        )
    assert snapshot() == before


@pytest.mark.parametrize("role", ["contact-centre-officer", "transport-officer", "auditor"])
def test_roles_that_see_no_documents_cannot_open_the_document_pages(
    role, staff_client, make_resident, audit_rows
) -> None:
    resident = make_resident()
    client, _ = staff_client(role)
    if role != "auditor":
        open_record(client, resident.id)
    assert client.get(f"/staff/residents/{resident.id}/evidence/passport").status_code == 403
    [refused] = audit_rows("staff.access_refused", resident.id)
    assert refused.details["permission"] == "record-evidence"


def test_from_a_request_the_pages_go_back_to_it_for_those_who_decide(
    staff_client, make_resident, stored_requests
) -> None:
    resident = make_resident()
    for role, back in (("gateway-officer", "requests"), ("library-staff", None)):
        client, _ = staff_client(role)
        open_record(client, resident.id)
        if not stored_requests(resident.id):
            check = f"/staff/residents/{resident.id}/services/bus-pass-older/check"
            page = client.get(check)
            client.post(check, data={"csrf_token": csrf_from(page)})
        [waiting] = stored_requests(resident.id)
        kind = "passport" if back else "birth-certificate"
        done = record_evidence(client, resident.id, kind, f"{role[:4]}1234", request_id=waiting.id)
        expected = (
            f"/staff/residents/{resident.id}/requests/{waiting.id}"
            if back
            else f"/staff/residents/{resident.id}"
        )
        assert done.headers["Location"] == expected
