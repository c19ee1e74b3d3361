"""The resident adds a service from their account: every branch through the real pages."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from flask import Flask
from flask.testing import FlaskClient

from entitlements.journey import add_working_days
from entitlements.ledger.events import Channel, EventKind
from idservice.models import Resident
from tests.accounts.conftest import csrf_from, submit, text
from tests.factories import sign_in_client
from tests.services.conftest import sixth_former


def signed_in(
    app: Flask, make_resident: Callable[..., Resident], **overrides: object
) -> tuple[FlaskClient, Resident]:
    resident = make_resident(**overrides)
    client = app.test_client()
    sign_in_client(app, client, resident)
    return client, resident


def test_services_page_lists_what_can_be_added(app: Flask, make_resident) -> None:
    client, _ = signed_in(app, make_resident)
    page = text(client.get("/account/services"))
    assert "You have no services yet" in page
    assert "Library membership" in page and 'href="/account/services/library"' in page


def test_library_is_granted_at_once_on_facts_already_held(
    app: Flask, make_resident, ledger_events, audit_rows
) -> None:
    client, ada = signed_in(app, make_resident)
    start = text(client.get("/account/services/library"))
    assert "What we already know" in start and "ME14 1XQ" in start
    assert 'href="/account/services/library/check"' in start  # no question to ask
    check = client.get("/account/services/library/check")
    assert "will be added straight away" in text(check)
    response = client.post("/account/services/library/check", data={"csrf_token": csrf_from(check)})
    assert response.status_code == 302
    assert response.headers["Location"] == "/account/services/library/outcome"
    outcome = text(client.get("/account/services/library/outcome"))
    assert "Library membership added" in outcome and "Valid with no end date" in outcome
    [event] = ledger_events()
    assert (event[1].kind, event[1].resident, event[1].service) == (
        EventKind.GRANT,
        ada.id,
        "library",
    )
    assert (event[1].actor, event[1].channel) == ("resident", Channel.WEB)
    assert event[1].evidence and all(ref.startswith("fact:") for ref in event[1].evidence)
    assert "Ada" not in str(event[1]) and "ME14" not in str(event[1])
    [granted] = audit_rows("service.granted", ada.id)
    assert (granted.actor_type, granted.actor_id, granted.channel) == ("resident", ada.id, "web")
    assert granted.details["service"] == "library"
    listing = text(client.get("/account/services"))
    assert "Services you have" in listing and "Library membership" in listing
    # Held services are not offered again, and a second application is refused.
    assert 'href="/account/services/library"' not in listing
    again = client.post("/account/services/library/check", data={"csrf_token": csrf_from(check)})
    assert again.status_code == 302 and len(ledger_events()) == 1


def test_not_eligible_says_why_and_records_nothing_in_the_ledger(
    app: Flask, make_resident, ledger_events, stored_requests, audit_rows
) -> None:
    client, young = signed_in(app, make_resident, date_of_birth=date(1990, 5, 1))
    check = client.get("/account/services/bus-pass-older/check")
    assert "You can get an older person" in text(check)
    client.post("/account/services/bus-pass-older/check", data={"csrf_token": csrf_from(check)})
    outcome = text(client.get("/account/services/bus-pass-older/outcome"))
    assert "You cannot get Older person" in outcome
    assert "State Pension age" in outcome and "You can apply from" in outcome
    assert ledger_events() == [] and stored_requests() == []
    assert len(audit_rows("service.not_eligible", young.id)) == 1


def test_needs_evidence_waits_with_the_expected_date(
    app: Flask, make_resident, ledger_events, stored_requests, audit_rows
) -> None:
    client, grace = signed_in(app, make_resident, date_of_birth=date(1948, 6, 2))
    check = client.get("/account/services/bus-pass-older/check")
    page = text(check)
    assert "We need to see proof of your date of birth" in page and "passport" in page
    assert "Send request" in page
    response = client.post(
        "/account/services/bus-pass-older/check", data={"csrf_token": csrf_from(check)}
    )
    assert response.headers["Location"] == "/account/services/bus-pass-older/outcome"
    [request] = stored_requests(grace.id)
    expected = add_working_days(date.today(), 10)
    assert (request.status, request.channel, request.expected_by) == ("waiting", "web", expected)
    assert request.requested_by_staff_id is None
    assert set(request.needs) == {"address", "date_of_birth"}
    outcome = text(client.get("/account/services/bus-pass-older/outcome"))
    assert "Request sent" in outcome
    assert f"{expected.day} {expected:%B} {expected.year}" in outcome
    assert ledger_events() == []
    [audit] = audit_rows("service.requested", grace.id)
    assert audit.details["request"] == request.id
    mine = text(client.get(f"/account/services/requests/{request.id}"))
    assert "Waiting for a decision by" in mine and "Withdraw request" in mine
    # A second application for the same service is not made while one waits.
    assert "is waiting for a decision" in text(client.get("/account/services/bus-pass-older"))


def test_missing_facts_are_asked_once_and_reused_by_the_next_service(
    app: Flask, make_resident, stored_facts, stored_requests
) -> None:
    client, sam = signed_in(app, make_resident, date_of_birth=sixth_former())
    start = text(client.get("/account/services/16-plus-travel-saver"))
    assert 'href="/account/services/16-plus-travel-saver/question/full_time_education"' in start
    url = "/account/services/16-plus-travel-saver/question/full_time_education"
    response = submit(client, url, {"answer": "yes"})
    assert response.headers["Location"] == "/account/services/16-plus-travel-saver/check"
    check = client.get("/account/services/16-plus-travel-saver/check")
    assert "What you told us" in text(check) and "Change" in text(check)
    assert stored_facts(sam.id, name="full_time_education") == []  # not until confirmed
    client.post(
        "/account/services/16-plus-travel-saver/check", data={"csrf_token": csrf_from(check)}
    )
    [fact] = stored_facts(sam.id, name="full_time_education")
    assert (fact.source, fact.level, fact.recorded_by_type, fact.channel) == (
        "self-declared",
        1,
        "resident",
        "web",
    )
    assert fact.expires_on == date(date.today().year + (date.today().month >= 9), 8, 31)
    assert [r.service for r in stored_requests(sam.id)] == ["16-plus-travel-saver"]
    # Withdraw, then apply again: nothing is asked the second time.
    request = stored_requests(sam.id)[0]
    submit(client, f"/account/services/requests/{request.id}", {})
    assert stored_requests(sam.id)[0].status == "withdrawn"
    again = text(client.get("/account/services/16-plus-travel-saver"))
    assert "question/" not in again and "In full-time education or training" in again


def test_disability_answer_is_reused_by_the_companion_pass(
    app: Flask, make_resident, stored_requests
) -> None:
    client, resident = signed_in(app, make_resident, date_of_birth=date(1980, 1, 1))
    base = "/account/services/bus-pass-disabled"
    question = text(client.get(f"{base}/question/disability"))
    assert "Certificate of Vision Impairment" in question  # the evidence for each category
    submit(client, f"{base}/question/disability", {"answer": "d"})
    check = client.get(f"{base}/check")
    client.post(f"{base}/check", data={"csrf_token": csrf_from(check)})
    companion = "/account/services/bus-pass-companion"
    start = text(client.get(companion))
    assert "question/needs_companion" in start and "question/disability" not in start
    assert client.get(f"{companion}/question/disability").status_code == 404
    submit(client, f"{companion}/question/needs_companion", {"answer": "yes"})
    check = client.get(f"{companion}/check")
    client.post(f"{companion}/check", data={"csrf_token": csrf_from(check)})
    assert {r.service for r in stored_requests(resident.id)} == {
        "bus-pass-disabled",
        "bus-pass-companion",
    }


def test_none_of_these_disabilities_ends_the_journey_and_stores_nothing(
    app: Flask, make_resident, snapshot
) -> None:
    client, _ = signed_in(app, make_resident, date_of_birth=date(1980, 1, 1))
    url = "/account/services/bus-pass-disabled/question/disability"
    page = client.get(url)
    before = snapshot()
    response = client.post(url, data={"answer": "none", "csrf_token": csrf_from(page)})
    assert response.status_code == 200
    assert "You cannot get Disabled person" in text(response) and "Nothing has been saved" in text(
        response
    )
    assert snapshot() == before


def test_library_for_someone_living_in_medway_asks_about_work(
    app: Flask, make_resident, ledger_events
) -> None:
    client, _ = signed_in(app, make_resident, postcode="ME4 4AA")
    start = text(client.get("/account/services/library"))
    assert "question/works_in_kent" in start
    response = submit(client, "/account/services/library/question/works_in_kent", {"answer": "yes"})
    assert response.headers["Location"] == "/account/services/library/check"
    check = client.get("/account/services/library/check")
    client.post("/account/services/library/check", data={"csrf_token": csrf_from(check)})
    assert [e.service for _, e in ledger_events()] == ["library"]


def test_bus_pass_for_someone_living_in_manchester_says_where_to_apply(
    app: Flask, make_resident, ledger_events, stored_requests
) -> None:
    client, _ = signed_in(app, make_resident, postcode="M1 1AE", date_of_birth=date(1950, 1, 1))
    check = client.get("/account/services/bus-pass-older/check")
    page = text(check)
    assert "you cannot get Older person" in page and "proof of your address" not in page
    assert "Your postcode M1 1AE is not in Kent: it is in North West England" in page
    client.post("/account/services/bus-pass-older/check", data={"csrf_token": csrf_from(check)})
    outcome = text(client.get("/account/services/bus-pass-older/outcome"))
    assert "You cannot get Older person" in outcome
    assert "Apply to the council for that address instead." in outcome
    assert ledger_events() == [] and stored_requests() == []


def test_a_question_left_unanswered_shows_the_error_and_keeps_nothing(
    app: Flask, make_resident, snapshot
) -> None:
    client, _ = signed_in(app, make_resident, date_of_birth=sixth_former())
    url = "/account/services/16-plus-travel-saver/question/full_time_education"
    page = client.get(url)
    before = snapshot()
    empty = client.post(url, data={"csrf_token": csrf_from(page)})
    assert empty.status_code == 400
    html = text(empty)
    assert "There is a problem" in html and 'href="#answer-yes"' in html
    assert 'id="answer-error"' in html
    assert "Select yes if you are in full-time education or training" in html
    wrong = client.post(url, data={"answer": "maybe", "csrf_token": csrf_from(page)})
    assert wrong.status_code == 400
    expired = client.post(url, data={"answer": "yes", "csrf_token": "expired"})
    assert expired.status_code == 400 and "This page has expired" in text(expired)
    assert 'value="yes" checked' in text(expired)  # what was chosen is kept
    assert snapshot() == before


def test_check_answers_needs_the_csrf_token(
    app: Flask, make_resident, snapshot, ledger_events
) -> None:
    client, _ = signed_in(app, make_resident)
    client.get("/account/services/library/check")
    before = snapshot()
    response = client.post("/account/services/library/check", data={})
    assert response.status_code == 400 and "This page has expired" in text(response)
    assert snapshot() == before and ledger_events() == []


def test_a_resident_cannot_see_or_withdraw_another_residents_request(
    app: Flask, make_resident, stored_requests
) -> None:
    owner, grace = signed_in(app, make_resident, date_of_birth=date(1948, 6, 2))
    check = owner.get("/account/services/bus-pass-older/check")
    owner.post("/account/services/bus-pass-older/check", data={"csrf_token": csrf_from(check)})
    [request] = stored_requests(grace.id)
    other, _ = signed_in(app, make_resident)
    assert other.get(f"/account/services/requests/{request.id}").status_code == 404
    token = csrf_from(other.get("/account/services"))
    response = other.post(f"/account/services/requests/{request.id}", data={"csrf_token": token})
    assert response.status_code == 404
    assert stored_requests(grace.id)[0].status == "waiting"
    assert other.get("/account/services/requests/no-such-request").status_code == 404


def test_unknown_service_or_question_is_not_found(app: Flask, make_resident) -> None:
    client, _ = signed_in(app, make_resident)
    assert client.get("/account/services/no-such-service").status_code == 404
    assert client.get("/account/services/library/question/nonsense").status_code == 404
    assert client.get("/account/services/library/question/disability").status_code == 404


def test_signed_out_visitors_are_sent_to_sign_in(client: FlaskClient) -> None:
    response = client.get("/account/services/library")
    assert response.status_code == 302 and "/sign-in" in response.headers["Location"]


def test_activity_page_says_what_happened_in_plain_english(app: Flask, make_resident) -> None:
    client, _ = signed_in(app, make_resident, date_of_birth=sixth_former())
    submit(
        client,
        "/account/services/16-plus-travel-saver/question/full_time_education",
        {"answer": "yes"},
    )
    check = client.get("/account/services/16-plus-travel-saver/check")
    client.post(
        "/account/services/16-plus-travel-saver/check", data={"csrf_token": csrf_from(check)}
    )
    page = text(client.get("/account/activity"))
    assert "Information about you recorded" in page
    assert "In full-time education or training: you told us" in page
    assert "Date of birth: you told us" in page  # from registration
    assert "Service requested" in page and "16+ Travel Saver" in page
