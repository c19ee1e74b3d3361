"""Offers reach the resident: "You can now get ..." on their account and services pages and
on the record staff open, one click into the journey, and "Not interested" for a year."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from flask import Flask
from flask.testing import FlaskClient

from entitlements.dates import add_years_months
from idservice.db import db_session
from idservice.models import Resident
from idservice.models.notices import OFFER_DECLINED, OFFER_OPEN
from idservice.services.reevaluation import SYSTEM, reevaluate
from tests.accounts.conftest import csrf_from, in_app, submit, text
from tests.factories import sign_in_client
from tests.services.sweep_helpers import offers_of
from tests.staff.conftest import open_record

BUS_PASS = "Older person&#39;s bus pass"


def signed_in(app: Flask, make_resident: Callable[..., Resident]) -> tuple[FlaskClient, Resident]:
    resident = make_resident()  # 1956, Maidstone: past bus pass age, address self-declared
    client = app.test_client()
    sign_in_client(app, client, resident)
    return client, resident


def _offer(app: Flask, resident_id: str, code: str) -> int:
    [offer] = [o for o in offers_of(app, resident_id) if o.service == code]
    return offer.id


def test_the_account_and_services_pages_say_you_can_now_get(app: Flask, make_resident) -> None:
    client, ada = signed_in(app, make_resident)
    account = text(client.get("/account"))
    assert "You can now get" in account and BUS_PASS in account
    assert 'href="/account/services#can-now-get"' in account

    page = text(client.get("/account/services"))
    assert '<h2 id="can-now-get">You can now get</h2>' in page
    # One click starts the journey, which reuses what we hold.
    assert 'href="/account/services/bus-pass-older" class="kc-button"' in page
    offer = _offer(app, ada.id, "bus-pass-older")
    assert f'action="/account/services/offers/{offer}/not-interested"' in page
    assert "We need to see proof before we can add it" in page
    start = text(client.get("/account/services/bus-pass-older"))
    assert "What we already know" in start and "ME14 1XQ" in start


def test_not_interested_is_not_offered_again_for_a_year(
    app: Flask, make_resident, audit_rows
) -> None:
    client, ada = signed_in(app, make_resident)
    offer = _offer(app, ada.id, "bus-pass-older")
    page = client.get("/account/services")
    response = client.post(
        f"/account/services/offers/{offer}/not-interested",
        data={"csrf_token": csrf_from(page)},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/account/services"
    listed = text(client.get("/account/services"))
    again = add_years_months(date.today(), years=1)
    assert "We will not offer you Older person" in listed
    assert f"again before {again.day}" in listed
    assert f"/account/services/offers/{offer}/not-interested" not in listed
    [declined] = [o for o in offers_of(app, ada.id) if o.id == offer]
    assert (declined.status, declined.declined_until) == (OFFER_DECLINED, again)
    [audit] = audit_rows("service.offer_declined", ada.id)
    assert (audit.actor_type, audit.actor_id, audit.channel) == ("resident", ada.id, "web")

    # Deciding again within the year does not offer it again; after the year it does.
    with in_app(app):
        reevaluate(ada.id, date.today(), SYSTEM)
        db_session.commit()
    assert [o.status for o in offers_of(app, ada.id) if o.service == "bus-pass-older"] == [
        OFFER_DECLINED
    ]
    with in_app(app):
        reevaluate(ada.id, again, SYSTEM)
        db_session.commit()
    statuses = sorted(o.status for o in offers_of(app, ada.id) if o.service == "bus-pass-older")
    assert statuses == sorted([OFFER_DECLINED, OFFER_OPEN])


def test_not_interested_needs_the_form_token_and_the_residents_own_offer(
    app: Flask, make_resident
) -> None:
    client, ada = signed_in(app, make_resident)
    offer = _offer(app, ada.id, "bus-pass-older")
    url = f"/account/services/offers/{offer}/not-interested"
    forged = client.post(url, data={"csrf_token": "forged"})
    assert forged.status_code == 400 and "This page has expired" in text(forged)
    assert [o.status for o in offers_of(app, ada.id) if o.id == offer] == [OFFER_OPEN]
    # The confirmation page (also what a browser without the list page sees).
    confirm = text(client.get(f"/account/services/offers/{offer}/not-interested"))
    assert "Are you not interested in Older person" in confirm

    other_client, grace = signed_in(app, make_resident)
    assert other_client.get(f"/account/services/offers/{offer}/not-interested").status_code == 404
    page = other_client.get("/account/services")
    response = other_client.post(
        f"/account/services/offers/{offer}/not-interested", data={"csrf_token": csrf_from(page)}
    )
    assert response.status_code == 404
    assert [o.status for o in offers_of(app, ada.id) if o.id == offer] == [OFFER_OPEN]
    assert grace.id != ada.id


def test_taking_the_offer_closes_it(app: Flask, make_resident) -> None:
    client, ada = signed_in(app, make_resident)
    check = client.get("/account/services/library/check")
    client.post("/account/services/library/check", data={"csrf_token": csrf_from(check)})
    assert "library" not in {o.service for o in offers_of(app, ada.id) if o.status == OFFER_OPEN}
    page = text(client.get("/account/services"))
    assert 'href="/account/services/library" class="kc-button"' not in page


def test_staff_see_offers_when_they_open_the_record(
    app: Flask, make_resident, staff_client, audit_rows
) -> None:
    resident = make_resident()
    client, staff = staff_client()
    open_record(client, resident.id)
    record = text(client.get(f"/staff/residents/{resident.id}"))
    assert "The resident can now get" in record and BUS_PASS in record
    start = f"/staff/residents/{resident.id}/services/bus-pass-older"
    assert f'href="{start}" class="kc-button"' in record
    assert "What we already know" in text(client.get(start))

    offer = _offer(app, resident.id, "bus-pass-older")
    url = f"/staff/residents/{resident.id}/services/offers/{offer}/not-interested"
    response = submit(client, url, {})
    assert response.headers["Location"] == f"/staff/residents/{resident.id}"
    [declined] = [o for o in offers_of(app, resident.id) if o.id == offer]
    assert declined.status == OFFER_DECLINED
    [audit] = audit_rows("service.offer_declined", resident.id)
    assert (audit.actor_type, audit.actor_id, audit.channel) == ("staff", staff.id, "face-to-face")
    assert audit.reason == "Resident at the desk asking to update their address"
    record = text(client.get(f"/staff/residents/{resident.id}"))
    assert f"We will not offer the resident {BUS_PASS}" in record
    assert f"offers/{offer}/not-interested" not in record


def test_staff_who_cannot_add_services_see_no_offers_and_cannot_decline(
    app: Flask, make_resident, staff_client
) -> None:
    resident = make_resident()
    client, _ = staff_client("transport-officer")
    open_record(client, resident.id)
    record = text(client.get(f"/staff/residents/{resident.id}"))
    assert "can now get" not in record
    offer = _offer(app, resident.id, "bus-pass-older")
    url = f"/staff/residents/{resident.id}/services/offers/{offer}/not-interested"
    assert client.get(url).status_code == 403
    assert [o.status for o in offers_of(app, resident.id) if o.id == offer] == [OFFER_OPEN]
