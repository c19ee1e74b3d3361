"""Every partner check is recorded; the resident sees who checked, in plain English."""

from __future__ import annotations

from datetime import date

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idservice.db import db_session
from idservice.models import AuditRecord, PartnerQuery
from idservice.models.residents import Resident
from tests.accounts.conftest import in_app
from tests.factories import sign_in_client
from tests.oauth.conftest import make_rp
from tests.partner_api.conftest import (
    LIBRARY,
    UNKNOWN_CARD,
    Partner,
    active_card,
    check_card,
    grant,
    new_resident,
    resident_tokens,
    service_token,
)


def _resident(app: Flask, resident_id: str) -> Resident:
    person = db_session.get(Resident, resident_id)
    assert person is not None
    return person


def test_each_check_is_recorded_without_the_card_number(
    app: Flask, client: FlaskClient, library_partner: Partner
) -> None:
    resident = new_resident(app)
    grant(app, resident, "library")
    number = active_card(app, resident)
    headers = service_token(client, library_partner.rp, LIBRARY)
    check_card(client, headers, "library", number)
    check_card(client, headers, "library", UNKNOWN_CARD)
    with in_app(app):
        rows = db_session.scalars(select(PartnerQuery).order_by(PartnerQuery.id)).all()
        found = [
            (r.client_id, r.resident_id, r.service, r.looked_up_by, r.entitled, r.result)
            for r in rows
        ]
        values = [str(getattr(r, c.key)) for r in rows for c in PartnerQuery.__table__.columns]
        audit = db_session.scalars(
            select(AuditRecord).where(AuditRecord.action == "partner.entitlement_checked")
        ).all()
        audited = [(a.resident_id, a.actor_type, a.actor_id, a.channel, a.details) for a in audit]
    client_id = library_partner.rp.client_id
    assert found == [
        (client_id, resident, "library", "card_number", True, "entitled"),
        (client_id, None, "library", "card_number", False, "unknown"),
    ]
    assert not any(number in v or UNKNOWN_CARD in v for v in values)
    # The look at the resident's record is in their audit trail too (the unknown card
    # looked at nobody's record).
    assert audited == [
        (
            resident,
            "client",
            client_id,
            "partner",
            {
                "client_name": "Kent Libraries",
                "service": "library",
                "looked_up_by": "card_number",
                "result": "entitled",
            },
        )
    ]
    assert number not in str(audited)


def test_the_resident_sees_who_checked_in_plain_english(
    app: Flask, client: FlaskClient, library_partner: Partner
) -> None:
    resident, someone_else = new_resident(app), new_resident(app)
    grant(app, resident, "library")
    number = active_card(app, resident)
    other_number = active_card(app, someone_else)
    headers = service_token(client, library_partner.rp, LIBRARY)
    check_card(client, headers, "library", number)
    check_card(client, headers, "library", other_number)

    with in_app(app):
        sign_in_client(app, client, _resident(app, resident))
    page = client.get("/account/entitlement-checks")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<h1>Who checked your entitlements</h1>" in html
    assert html.count("Kent Libraries asked about") == 1  # only the check about them
    assert "Kent Libraries asked about: Library membership." in html
    assert "They were told: that you have it." in html
    assert "They found you by your Kent Card number." in html
    assert number not in html

    activity = client.get("/account/activity").get_data(as_text=True)
    assert "A service checked whether you have an entitlement" in activity
    assert "About: Library membership. Told: that you have it" in activity
    assert "<td>Kent Libraries</td>" in activity
    assert "/account/entitlement-checks" in client.get("/account").get_data(as_text=True)


def test_the_page_says_when_nobody_has_checked(app: Flask, client: FlaskClient) -> None:
    resident = new_resident(app)
    with in_app(app):
        sign_in_client(app, client, _resident(app, resident))
    html = client.get("/account/entitlement-checks").get_data(as_text=True)
    assert "No service has checked your entitlements yet." in html


def test_the_page_needs_sign_in(client: FlaskClient) -> None:
    response = client.get("/account/entitlement-checks")
    assert response.status_code == 302
    assert "/sign-in" in response.location


def test_a_resident_lists_their_own_entitlements_with_their_token(
    app: Flask, client: FlaskClient
) -> None:
    resident = new_resident(app)
    grant(app, resident, "library", valid_from=date(2020, 1, 1), valid_until=date(2099, 1, 1))
    grant(app, resident, "blue-badge", valid_until=date(2021, 1, 1))
    kent_app = make_rp(app, name="Kent app", scope="openid entitlements")
    with in_app(app):
        tokens = resident_tokens(
            app, client, _resident(app, resident), kent_app, "openid entitlements"
        )
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    response = client.get("/api/v1/me/entitlements", headers=headers)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.get_json() == {
        "entitlements": [
            {
                "service": "blue-badge",
                "name": "Blue Badge (disabled parking)",
                "status": "active",
                "valid_from": "2020-01-01",
                "valid_until": "2021-01-01",
                "current": False,
            },
            {
                "service": "library",
                "name": "Library membership",
                "status": "active",
                "valid_from": "2020-01-01",
                "valid_until": "2099-01-01",
                "current": True,
            },
        ]
    }
    # A resident's token cannot be used for partner checks.
    number = active_card(app, resident)
    refused = check_card(client, headers, "library", number)
    assert refused.status_code == 403 and refused.get_json()["error"] == "insufficient_scope"


def test_a_resident_token_without_the_entitlements_scope_is_refused(
    app: Flask, client: FlaskClient
) -> None:
    resident = new_resident(app)
    kent_app = make_rp(app, name="Kent app", scope="openid entitlements")
    with in_app(app):
        tokens = resident_tokens(app, client, _resident(app, resident), kent_app, "openid")
    response = client.get(
        "/api/v1/me/entitlements", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert response.status_code == 403
    assert response.get_json()["error"] == "insufficient_scope"
