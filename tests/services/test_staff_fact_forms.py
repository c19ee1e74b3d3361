""" "Record a fact from a document": one form per fact, each answer a proper question (a
date input, the record's address, yes or no, a year group, the statutory disabilities,
the awards, a Blue Badge decision), never a value in a machine format."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import pytest
from flask import Flask

from entitlements.codec import from_json
from entitlements.dates import academic_year_bounds, academic_year_start
from entitlements.facts import (
    Address,
    BlueBadgeDecision,
    Disability,
    DisabilityCategory,
    FactName,
    QualifyingAward,
    SchoolYear,
)
from idservice.services.evidence_types import EVIDENCE_TYPES, evidence_for
from idservice.staff.fact_forms import PAGES
from idservice.staff.permissions import Action, Role, allowed
from tests.accounts.conftest import csrf_from, submit, text
from tests.staff.conftest import open_record, personal_values

TODAY = date.today()
SCHOOL_YEAR = academic_year_start(TODAY)
LATER = TODAY + timedelta(days=400)
EARLIER = TODAY - timedelta(days=30)


def _date(name: str, value: date) -> dict[str, str]:
    return {
        f"{name}-day": str(value.day),
        f"{name}-month": str(value.month),
        f"{name}-year": str(value.year),
    }


#: fact -> (answers, document, the value stored, the end date stored)
VALID: dict[str, tuple[dict[str, Any], str, object, date | None]] = {
    "date_of_birth": (
        _date("date_of_birth", date(1956, 12, 10)),
        "birth-certificate",
        date(1956, 12, 10),
        None,
    ),
    "address": (
        {"confirm": "yes", "uprn": "200003656911"},
        "utility-bill",
        Address("ME14 1XQ", "200003656911"),
        None,
    ),
    "lives_in_kent": ({"value": "yes"}, "council-tax-bill", True, None),
    "works_in_kent": (
        {"value": "no", **_date("expires_on", LATER)},
        "employer-letter",
        False,
        LATER,
    ),
    "studies_in_kent": ({"value": "yes"}, "school-or-college-letter", True, None),
    "school_year": (
        {"year_group": "9", "academic_year": str(SCHOOL_YEAR)},
        "school-or-college-letter",
        SchoolYear(9, SCHOOL_YEAR),
        None,
    ),
    "full_time_education": (
        {"value": "yes"},
        "school-or-college-letter",
        True,
        academic_year_bounds(SCHOOL_YEAR)[1],  # the end of this school year, by default
    ),
    "disability": (
        {"category": "a", **_date("expires_on", LATER)},
        "vision-certificate",
        Disability(
            DisabilityCategory.BLIND_OR_PARTIALLY_SIGHTED, "certificate of Vision Impairment"
        ),
        LATER,
    ),
    "blue_badge_decision": (
        {"approved": "yes", **_date("decided_on", EARLIER), **_date("ends_on", LATER)},
        "council-assessment",
        BlueBadgeDecision(True, EARLIER, LATER),
        None,
    ),
    "qualifying_award": (
        {"award": "dla_higher_rate_mobility"},
        "benefit-award-letter",
        QualifyingAward.DLA_HIGHER_RATE_MOBILITY,
        None,
    ),
    "parental_consent": ({"value": "yes"}, "consent-form", True, None),
    "needs_companion": ({"value": "yes"}, "council-assessment", True, None),
}


def test_every_fact_has_a_form_and_documents_that_prove_it() -> None:
    assert set(PAGES) == set(FactName) == {FactName(f) for f in VALID}
    for name in FactName:
        assert evidence_for(name), name


def test_staff_who_record_evidence_may_record_facts() -> None:
    """The evidence form records facts, so no role may do one and not the other."""
    for role in Role:
        if allowed(role, Action.RECORD_EVIDENCE):
            assert allowed(role, Action.RECORD_FACT), role


@pytest.mark.parametrize("fact", sorted(VALID))
def test_each_fact_form_records_the_fact_at_the_documents_level(
    fact: str, staff_client, make_resident, stored_facts, audit_rows, reload
) -> None:
    resident = make_resident()
    client, staff = staff_client("library-staff")
    open_record(client, resident.id)
    url = f"/staff/residents/{resident.id}/facts/{fact}"
    page = text(client.get(url))
    typed = re.findall(r'<input[^>]* name="([^"]+)" type="text"', page)
    assert typed and all(  # no value typed in a machine format: only references and dates
        n in ("reference", "uprn") or n.endswith(("-day", "-month", "-year")) for n in typed
    ), typed
    answers, kind, value, expires = VALID[fact]
    response = submit(client, url, {**answers, "evidence_type": kind, "reference": "AB-12 3456"})
    assert response.status_code == 302, text(response)
    assert response.headers["Location"] == f"/staff/residents/{resident.id}"
    [row] = stored_facts(resident.id, current=True, name=fact)
    name = FactName(fact)
    assert from_json(name, row.value) == value
    assert (row.source, row.level) == (EVIDENCE_TYPES[kind].source, int(EVIDENCE_TYPES[kind].level))
    assert (row.evidence_type, row.evidence_last4, row.expires_on) == (kind, "3456", expires)
    assert (row.recorded_by_type, row.recorded_by_id, row.channel) == (
        "staff",
        staff.id,
        "face-to-face",
    )
    [audit] = [a for a in audit_rows("fact.recorded", resident.id) if a.actor_type == "staff"]
    assert audit.details["fact"] == fact and audit.details["evidence_type"] == kind
    assert audit.details["staff_role"] == "library-staff" and audit.details["assisted"] is True
    for personal in [*personal_values(resident), "200003656911", "3456"]:
        assert personal not in str(audit.details)
    viewed = [a.details.get("screen") for a in audit_rows("resident.viewed", resident.id)]
    assert f"record a fact: {fact}" in viewed
    if fact == "address":  # the UPRN seen is kept on the record too
        assert reload(resident.id).uprn == "200003656911"


#: (fact, answers, field with the error, message, values shown again)
MISTAKES = [
    (
        "date_of_birth",
        _date("date_of_birth", date(1956, 12, 10))
        | {"date_of_birth-day": "31", "date_of_birth-month": "2"},
        "date_of_birth",
        "must be a real date",
        ['value="31"'],
    ),
    (
        "date_of_birth",
        {"date_of_birth-day": "10", "date_of_birth-year": "1956"},
        "date_of_birth",
        "must include a month",
        ['value="1956"'],
    ),
    (
        "date_of_birth",
        _date("date_of_birth", TODAY + timedelta(days=1)),
        "date_of_birth",
        "must be in the past",
        [],
    ),
    (
        "date_of_birth",
        _date("date_of_birth", date(1956, 12, 11)),
        "date_of_birth",
        "different from the one on the record",
        ['value="11"'],
    ),
    (
        "address",
        {"uprn": "123"},
        "confirm",
        "Confirm the document shows the address",
        ['value="123"'],
    ),
    (
        "address",
        {"confirm": "yes", "uprn": "12 High St"},
        "uprn",
        "up to 12 numbers",
        ['value="12 High St"'],
    ),
    (
        "works_in_kent",
        {},
        "value",
        "Select yes if the document shows the resident works in Kent",
        [],
    ),
    ("works_in_kent", {"value": "maybe"}, "value", "Select does the document show", []),
    (
        "school_year",
        {"year_group": "15", "academic_year": str(SCHOOL_YEAR)},
        "year_group",
        "Select year group",
        [f'value="{SCHOOL_YEAR}" checked'],
    ),
    (
        "school_year",
        {"year_group": "9"},
        "academic_year",
        "Select the school year",
        ['value="9" selected'],
    ),
    (
        "school_year",
        {"year_group": "9", "academic_year": str(SCHOOL_YEAR - 5)},
        "academic_year",
        "Select in which school year",
        [],
    ),
    ("disability", {"category": "h"}, "category", "Select which of the disabilities", []),
    (
        "disability",
        {"category": "d", **_date("expires_on", EARLIER)},
        "expires_on",
        "must be in the future",
        ['value="d" checked'],
    ),
    (
        "blue_badge_decision",
        {"approved": "yes", **_date("decided_on", EARLIER)},
        "ends_on",
        "Enter the date the Blue Badge ends",
        ['value="yes" checked'],
    ),
    (
        "blue_badge_decision",
        {"approved": "no", **_date("decided_on", EARLIER), **_date("ends_on", LATER)},
        "ends_on",
        "Leave the end date empty",
        [],
    ),
    (
        "blue_badge_decision",
        {
            "approved": "yes",
            **_date("decided_on", EARLIER),
            **_date("ends_on", EARLIER - timedelta(days=1)),
        },
        "ends_on",
        "must be after the decision",
        [],
    ),
    (
        "blue_badge_decision",
        {"approved": "yes", **_date("decided_on", TODAY + timedelta(days=2))},
        "decided_on",
        "today or in the past",
        [],
    ),
    ("qualifying_award", {}, "award", "Select the award the evidence shows", []),
]


@pytest.mark.parametrize(
    ("fact", "answers", "field", "message", "kept"),
    MISTAKES,
    ids=[f"{m[0]}-{m[2]}-{i}" for i, m in enumerate(MISTAKES)],
)
def test_a_mistake_is_shown_next_to_its_field_keeps_what_was_typed_and_writes_nothing(
    fact, answers, field, message, kept, staff_client, make_resident, snapshot
) -> None:
    resident = make_resident()
    client, _ = staff_client()
    open_record(client, resident.id)
    url = f"/staff/residents/{resident.id}/facts/{fact}"
    page = client.get(url)
    kind = next(iter(evidence_for(FactName(fact))))
    before = snapshot()
    response = client.post(
        url,
        data={
            **answers,
            "evidence_type": kind,
            "reference": "XY987654",
            "csrf_token": csrf_from(page),
        },
    )
    assert response.status_code == 400
    html = text(response)
    assert message in html, html[:3000]
    assert f'id="{field}-error"' in html and "There is a problem" in html
    for shown in ['value="XY987654"', f'value="{kind}" checked', *kept]:
        assert shown in html, shown
    assert snapshot() == before


def test_the_evidence_must_be_a_document_that_proves_the_fact(
    staff_client, make_resident, snapshot
) -> None:
    resident = make_resident()
    client, _ = staff_client()
    open_record(client, resident.id)
    url = f"/staff/residents/{resident.id}/facts/works_in_kent"
    page = client.get(url)
    assert 'value="employer-letter"' in text(page) and 'value="passport"' not in text(page)
    before = snapshot()
    for data in (
        {"value": "yes", "evidence_type": "passport", "reference": "AB123456"},
        {"value": "yes"},
    ):
        response = client.post(url, data={**data, "csrf_token": csrf_from(page)})
        assert response.status_code == 400
        assert 'id="evidence_type-error"' in text(response)
    assert "Enter the document number" in text(response)
    assert snapshot() == before


def test_choosing_the_fact_first_and_links_from_a_request(staff_client, make_resident) -> None:
    resident = make_resident()
    client, _ = staff_client()
    open_record(client, resident.id)
    base = f"/staff/residents/{resident.id}/facts"
    chosen = submit(client, f"{base}/new", {"fact": "school_year"})
    assert chosen.headers["Location"] == f"{base}/school_year"
    missing = submit(client, f"{base}/new", {})
    assert missing.status_code == 400 and "Select what the document or check showed" in text(
        missing
    )
    request_id = "0f2c1d7e-3b4a-4c5d-8e9f-0a1b2c3d4e5f"
    old_link = client.get(f"{base}/new?fact=disability&request={request_id}")
    assert old_link.headers["Location"] == f"{base}/disability?request={request_id}"
    odd = client.get(f"{base}/new?fact=disability&request=javascript:alert(1)")
    assert odd.headers["Location"] == f"{base}/disability"
    assert client.get(f"{base}/shoe_size").status_code == 404


@pytest.mark.parametrize("role", ["contact-centre-officer", "transport-officer", "administrator"])
def test_roles_that_see_no_documents_cannot_record_a_fact(
    role, staff_client, make_resident, audit_rows, snapshot, app: Flask
) -> None:
    resident = make_resident()
    client, _ = staff_client(role)
    open_record(client, resident.id)
    before = snapshot()
    url = f"/staff/residents/{resident.id}/facts/date_of_birth"
    assert client.get(url).status_code == 403
    with client.session_transaction() as sess:
        sess["_csrf"] = "token"
    posted = client.post(
        url,
        data={
            **VALID["date_of_birth"][0],
            "evidence_type": "passport",
            "reference": "AB123456",
            "csrf_token": "token",
        },
    )
    assert posted.status_code == 403
    refusals = audit_rows("staff.access_refused", resident.id)
    assert [r.details["permission"] for r in refusals] == ["record-fact", "record-fact"]
    after = snapshot()
    assert after["resident_facts"] == before["resident_facts"]
