"""Identity evidence: the level rules, what is stored of a document's number, and
de-duplication across records."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idservice.db import db_session
from idservice.models import IdentityEvidence, Resident, StaffMember
from idservice.services.evidence_types import EVIDENCE_TYPES
from idservice.staff.identity import DOCUMENT_TYPES, level_for, normalise_reference
from tests.accounts.conftest import in_app, submit, text
from tests.factories import sign_in_client
from tests.staff.conftest import open_record, record_evidence

StaffClient = Callable[..., tuple[FlaskClient, StaffMember]]


@pytest.mark.parametrize(
    ("documents", "level"),
    [
        ([], "self-declared"),
        (["passport"], "self-declared"),
        (["utility-bill", "bank-statement"], "self-declared"),
        (["birth-certificate", "council-tax-bill"], "self-declared"),
        (["passport", "utility-bill"], "documents-seen"),
        (["driving-licence", "council-tax-bill"], "documents-seen"),
        (["biometric-residence-permit", "bank-statement", "birth-certificate"], "documents-seen"),
        (["post-office-check"], "partner-verified"),
        (["dwp-hmrc-check", "passport"], "partner-verified"),
        (["unknown-paper", "utility-bill"], "self-declared"),
    ],
)
def test_identity_level_rules(documents: list[str], level: str) -> None:
    assert level_for(documents) == level


def test_every_document_type_the_issue_lists_is_accepted() -> None:
    assert set(DOCUMENT_TYPES) == {
        "passport",
        "driving-licence",
        "biometric-residence-permit",
        "birth-certificate",
        "utility-bill",
        "council-tax-bill",
        "bank-statement",
        "post-office-check",
        "dwp-hmrc-check",
        "benefit-award-letter",
    }


def test_every_identity_document_is_a_fact_evidence_type_that_proves_something() -> None:
    """Recording a document records what it proves, so each must say what that is."""
    for code in DOCUMENT_TYPES:
        assert EVIDENCE_TYPES[code].proves, code


def test_references_are_compared_without_spaces_or_case() -> None:
    assert normalise_reference(" 12 34-56/ab ") == "123456AB"


def _record(client: FlaskClient, resident_id: str, kind: str, reference: str):
    return record_evidence(client, resident_id, kind, reference)


def _evidence(app: Flask) -> list[IdentityEvidence]:
    with in_app(app):
        rows = list(db_session.scalars(select(IdentityEvidence).order_by(IdentityEvidence.id)))
        db_session.expunge_all()
        return rows


def test_photo_id_and_address_document_raise_the_level_and_only_last_four_are_kept(
    app: Flask,
    staff_client: StaffClient,
    make_resident: Callable[..., Resident],
    reload: Callable[[str], Resident],
    audit_rows,
    snapshot,
) -> None:
    resident = make_resident()
    client, staff = staff_client()
    open_record(client, resident.id, reason="Resident wants a Kent Card")
    first = _record(client, resident.id, "passport", "123 456 789")
    assert first.status_code == 302
    assert reload(resident.id).identity_level == "self-declared"
    second = _record(client, resident.id, "utility-bill", "ELEC-0099-8877")
    assert second.status_code == 302
    assert reload(resident.id).identity_level == "documents-seen"
    page = text(client.get(f"/staff/residents/{resident.id}"))
    assert "Documents seen by council staff" in page and "6789" in page

    rows = _evidence(app)
    assert [
        (e.document_type, e.reference_last4, e.checked_by_staff_id, e.channel) for e in rows
    ] == [
        ("passport", "6789", staff.id, "face-to-face"),
        ("utility-bill", "8877", staff.id, "face-to-face"),
    ]
    everything = repr(snapshot())
    assert "123456789" not in everything and "ELEC00998877" not in everything
    recorded = audit_rows("identity.evidence_recorded", resident_id=resident.id)
    assert [(r.details["document_type"], r.details["identity_level"]) for r in recorded] == [
        ("passport", "self-declared"),
        ("utility-bill", "documents-seen"),
    ]
    assert all(r.reason == "Resident wants a Kent Card" for r in recorded)
    assert "6789" not in repr([r.details for r in recorded])

    own = app.test_client()
    sign_in_client(app, own, resident)
    activity = text(own.get("/account/activity"))
    assert "Utility bill checked. Identity now: Documents seen by council staff" in activity


def test_a_partner_check_makes_the_resident_partner_verified(
    staff_client: StaffClient,
    make_resident: Callable[..., Resident],
    reload: Callable[[str], Resident],
) -> None:
    resident = make_resident()
    client, _ = staff_client("library-staff")
    open_record(client, resident.id)
    assert _record(client, resident.id, "post-office-check", "PO-7781-2231").status_code == 302
    assert reload(resident.id).identity_level == "partner-verified"


def test_the_same_passport_cannot_be_used_for_two_people(
    app: Flask, staff_client: StaffClient, make_resident: Callable[..., Resident], snapshot
) -> None:
    first = make_resident()
    second = make_resident(given_name="Someone", family_name="Else")
    client, _ = staff_client()
    open_record(client, first.id)
    open_record(client, second.id)
    assert _record(client, first.id, "passport", "123456789").status_code == 302
    before = snapshot()
    refused = _record(client, second.id, "passport", "1234 56789")
    assert refused.status_code == 400
    assert "recorded on another person" in text(refused)
    assert 'value="1234 56789"' in text(refused)
    after = snapshot()
    assert after["identity_evidence"] == before["identity_evidence"]
    assert after["residents"] == before["residents"]
    again = _record(client, first.id, "passport", "123456789")
    assert again.status_code == 400 and "already recorded on this resident" in text(again)


def test_a_household_bill_can_be_seen_for_two_people(
    app: Flask, staff_client: StaffClient, make_resident: Callable[..., Resident]
) -> None:
    first = make_resident()
    second = make_resident(given_name="Partner")
    client, _ = staff_client()
    for resident in (first, second):
        open_record(client, resident.id)
        assert _record(client, resident.id, "council-tax-bill", "CT12345678").status_code == 302
    assert len(_evidence(app)) == 2


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("", "Select the type of document or check"),
        ("library-card", "Select what did you see or check?"),
    ],
)
def test_the_document_must_be_one_the_council_accepts(
    staff_client: StaffClient, make_resident: Callable[..., Resident], kind, message
) -> None:
    resident = make_resident()
    client, _ = staff_client()
    open_record(client, resident.id)
    response = submit(client, f"/staff/residents/{resident.id}/evidence", {"document_type": kind})
    assert response.status_code == 400
    assert message in text(response) and 'id="document_type-error"' in text(response)
    assert client.get(f"/staff/residents/{resident.id}/evidence/library-card").status_code == 404


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("", "Enter the document number"),
        ("12", "4 to 40 letters"),
        ("12<>34", "4 to 40 letters"),
    ],
)
def test_bad_evidence_keeps_what_was_typed_and_writes_nothing(
    staff_client: StaffClient,
    make_resident: Callable[..., Resident],
    snapshot,
    reference,
    message,
) -> None:
    resident = make_resident()
    client, _ = staff_client()
    open_record(client, resident.id)
    before = snapshot()
    response = _record(client, resident.id, "passport", reference)
    assert response.status_code == 400
    assert message in text(response) and 'id="reference-error"' in text(response)
    if reference:
        shown = reference.replace("<", "&lt;").replace(">", "&gt;")
        assert f'value="{shown}"' in text(response)
    assert 'value="date_of_birth" checked' in text(response)  # the tick is kept too
    assert_only_looked_at(before, snapshot())


def assert_only_looked_at(before, after) -> None:
    """Nothing written but the audit of the page that showed the record's details."""
    assert {k: v for k, v in after.items() if k != "audit_records"} == {
        k: v for k, v in before.items() if k != "audit_records"
    }
    added = set(after["audit_records"]) - set(before["audit_records"])
    assert added and all("resident.viewed" in row for row in added)
