"""Evidence once: identity documents recorded in the staff console record the facts they
prove at the same time, so a request waiting for proof can be decided without typing
the same details again in another form."""

from __future__ import annotations

from datetime import date

from flask import Flask

from entitlements.ledger.events import EventKind
from tests.accounts.conftest import csrf_from, submit, text
from tests.staff.test_console import NEW_RESIDENT

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
