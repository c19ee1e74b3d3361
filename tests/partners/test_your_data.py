"""A resident downloads everything held about them, and can have it erased."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date

from flask import Flask
from sqlalchemy import select

from entitlements.ledger.signing import SigningKey
from entitlements.ledger.store import sign_tree_head
from entitlements.ledger.verify import verify
from idservice.cards.issuer_keys import ledger_signing_key
from idservice.db import db_session
from idservice.models import AuditRecord, Card, Consent, IdentityEvidence, Resident
from idservice.oauth.dao import dao_save_consent
from idservice.services.residents import dao_get_resident_by_email
from tests.accounts.conftest import in_app, submit, text
from tests.factories import DEFAULT_PASSWORD, create_staff, sign_in_client
from tests.partners.conftest import PartnerInfo, grant, ledger_kinds, outbox_rows, states


def _ledger_key(app: Flask) -> SigningKey:
    settings = app.config["KENTCARD"]
    return ledger_signing_key(settings.instance_path, settings.database_url)


def _card(app: Flask, resident_id: str) -> None:
    with in_app(app):
        db_session.add(
            Card(
                card_number="9826010000000019",
                resident_id=resident_id,
                status="active",
                expiry=date(2031, 1, 1),
            )
        )
        db_session.commit()


def test_download_holds_everything_with_card_numbers_masked_and_is_audited(
    app: Flask, make_resident: Callable[..., Resident], make_partner: Callable[..., PartnerInfo]
) -> None:
    resident = make_resident(phone="01622 694000")
    grant(app, resident.id, "bus-pass-older")
    _card(app, resident.id)
    partner = make_partner("https://bus.example/events")
    with in_app(app):
        dao_save_consent(resident.id, partner.client_id, "openid profile")
        db_session.commit()
    browser = app.test_client()
    sign_in_client(app, browser, resident)
    page = browser.get("/account/your-data")
    assert page.status_code == 200
    response = submit(browser, "/account/your-data", {})
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert "attachment" in response.headers["Content-Disposition"]
    data = json.loads(response.get_data())
    assert data["details"]["family_name"] == "Lovelace"
    assert data["details"]["address"]["postal_code"] == "ME14 1XQ"
    assert data["preferences"]["language"] == "en"
    assert data["entitlements"] == [
        {
            "service": "bus-pass-older",
            "status": "active",
            "valid_from": "2026-01-01",
            "valid_until": "2031-01-01",
        }
    ]
    assert data["entitlement_history"][0]["kind"] == "grant"
    assert data["cards"][0]["card"] == "ending 0019"
    assert "9826010000000019" not in response.get_data(as_text=True)
    assert data["consents"][0]["shared"] == ["openid", "profile"]
    assert {o["service"] for o in data["offers"]} >= {"library", "partner-leisure-60-plus"}
    assert data["notices"] == []  # offers at registration are shown, not sent
    assert any(a["what"] == "A copy of your data was downloaded" for a in data["activity"])
    assert "password_hash" not in response.get_data(as_text=True)
    with in_app(app):
        audits = db_session.scalars(
            select(AuditRecord).where(AuditRecord.action == "resident.data_downloaded")
        ).all()
        assert [a.resident_id for a in audits] == [resident.id]


def test_download_needs_sign_in_and_a_csrf_token(
    app: Flask, make_resident: Callable[..., Resident]
) -> None:
    anonymous = app.test_client()
    assert anonymous.post("/account/your-data").status_code == 302
    resident = make_resident()
    browser = app.test_client()
    sign_in_client(app, browser, resident)
    forged = browser.post("/account/your-data", data={})
    assert forged.status_code == 400 and forged.mimetype == "text/html"


def test_erasure_removes_personal_data_and_the_ledger_still_verifies(
    app: Flask,
    make_resident: Callable[..., Resident],
    make_partner: Callable[..., PartnerInfo],
) -> None:
    resident = make_resident(phone="01622 694000")
    grant(app, resident.id, "bus-pass-older")
    _card(app, resident.id)
    bus = make_partner("https://bus.example/events", services=["bus-pass-older"])
    with in_app(app):
        staff = create_staff()
        db_session.add(
            IdentityEvidence(
                resident_id=resident.id,
                document_type="passport",
                reference_last4="1234",
                reference_hash="0" * 64,
                checked_by_staff_id=staff.id,
                channel="face-to-face",
            )
        )
        dao_save_consent(resident.id, bus.client_id, "openid")
        db_session.commit()
    engine = app.extensions["kentcard_engine"]
    key = _ledger_key(app)
    sign_tree_head(engine, key)

    browser = app.test_client()
    sign_in_client(app, browser, resident)
    wrong = submit(browser, "/account/your-data/erase", {"understood": "yes", "password": "not it"})
    assert wrong.status_code == 400 and "Your password is not correct" in text(wrong)
    unticked = submit(browser, "/account/your-data/erase", {"password": DEFAULT_PASSWORD})
    assert unticked.status_code == 400 and "Confirm that you understand" in text(unticked)
    done = submit(
        browser, "/account/your-data/erase", {"understood": "yes", "password": DEFAULT_PASSWORD}
    )
    assert done.status_code == 302 and done.headers["Location"].endswith("/account/erased")
    assert "has been erased" in text(browser.get("/account/erased"))
    assert browser.get("/account").status_code == 302  # signed out

    with in_app(app):
        stored = db_session.get(Resident, resident.id)
        assert stored is not None and stored.status == "erased"
        for value in ("Ada", "Lovelace", "Sessions House", "ME14 1XQ", "Maidstone"):
            assert value not in repr(stored.__dict__)
        assert stored.email is None and stored.phone is None and stored.password_hash is None
        assert dao_get_resident_by_email(str(resident.email)) is None
        assert (
            db_session.scalars(
                select(IdentityEvidence).where(IdentityEvidence.resident_id == resident.id)
            ).all()
            == []
        )
        assert db_session.scalars(select(Consent)).all() == []
        card = db_session.scalars(select(Card)).one()
        assert card.status == "hotlisted"  # kept, so it can never be used again
        erased = db_session.scalars(
            select(AuditRecord).where(AuditRecord.action == "resident.erased")
        ).one()
        assert erased.details["services_ended"] == ["bus-pass-older"]
    assert states(app, resident.id)["bus-pass-older"][0] == "revoked"
    assert ledger_kinds(app, resident.id)[-2:] == [
        ("revoke", "bus-pass-older"),
        ("card-hotlisted", "kent-card"),
    ]
    assert [(r.event_type, r.payload["reason"]) for r in outbox_rows(app)] == [
        ("entitlement-ended", "erasure")
    ]
    # The ledger held nothing personal: every hash and the earlier signed head verify.
    sign_tree_head(engine, key)
    report = verify(engine, {key.key_id: key.public_key})
    assert report.ok, report.problem
    assert report.tree_heads_checked == 2


def test_the_activity_page_explains_life_events(
    app: Flask, make_resident: Callable[..., Resident]
) -> None:
    from idservice.services import life_events

    resident = make_resident()
    with in_app(app):
        life_events.record_address_change(
            life_events.Notifier("registrar", "registrar-feed"),
            resident.id,
            date.today(),
            {"address_line_1": "3 Quay Lane", "town": "Faversham", "postcode": "ME13 7AA"},
        )
    browser = app.test_client()
    sign_in_client(app, browser, resident)
    page = text(browser.get("/account/activity"))
    assert "A change of address was recorded" in page
    assert "The register office" in page
