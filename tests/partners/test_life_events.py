"""Life events: each in one transaction with its ledger events and outbox rows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from entitlements.ledger.signing import SigningKey
from entitlements.ledger.store import sign_tree_head
from entitlements.ledger.verify import verify
from idservice.cards.decisions import decide
from idservice.cards.issuer_keys import ledger_signing_key
from idservice.db import db_session
from idservice.models.cards import Card
from idservice.models.oauth import OAuthToken
from idservice.models.partners import LifeEvent
from idservice.models.residents import Resident, ResidentSession
from idservice.oauth import dao as oauth_dao
from idservice.oauth.claims import pairwise_sub
from idservice.partners import outbox
from idservice.services import life_events
from idservice.services.residents import NotFound
from tests.accounts.conftest import in_app
from tests.factories import sign_in_client
from tests.partners.conftest import (
    PartnerInfo,
    grant,
    ledger_kinds,
    outbox_count,
    outbox_rows,
    states,
)

REGISTRAR = life_events.Notifier("registrar", "registrar-feed", reference="DE-2026-0042")
STAFF = life_events.Notifier(
    "staff", "staff-0001", channel="phone", staff_role="contact-centre-officer", reason="son rang"
)
DIED = date.today() - timedelta(days=3)


def _ledger_key(app: Flask) -> SigningKey:
    settings = app.config["KENTCARD"]
    return ledger_signing_key(settings.instance_path, settings.database_url)


def _card(app: Flask, resident_id: str, status: str = "active") -> str:
    with in_app(app):
        card = Card(
            card_number="9826010000000001",
            resident_id=resident_id,
            status=status,
            expiry=date(2031, 1, 1),
        )
        db_session.add(card)
        db_session.commit()
        return card.id


def _token(app: Flask, resident_id: str, client_id: str) -> str:
    with in_app(app):
        now = datetime.now(UTC)
        oauth_dao.dao_create_token(
            jti="jti-of-a-resident-token",
            client_id=client_id,
            scope="openid",
            issued_at=now,
            access_expires_at=now + timedelta(minutes=10),
            resident_id=resident_id,
        )
        db_session.commit()
    return "jti-of-a-resident-token"


def test_death_ends_everything_and_tells_partners_in_one_transaction(
    app: Flask,
    make_resident: Callable[..., Resident],
    make_partner: Callable[..., PartnerInfo],
) -> None:
    resident = make_resident()
    bus = make_partner("https://bus.example/events", services=["bus-pass-older"])
    library = make_partner(
        "https://library.example/events", services=["library"], name="Libraries", events=["death"]
    )
    stranger = make_partner("https://leisure.example/events", services=["blue-badge"], name="X")
    grant(app, resident.id, "bus-pass-older", "library")
    card_id = _card(app, resident.id)
    browser = app.test_client()
    sign_in_client(app, browser, resident)
    jti = _token(app, resident.id, bus.client_id)

    with in_app(app):
        outcome = life_events.record_death(REGISTRAR, resident.id, DIED)
        life_id = outcome.life_event.id

    assert states(app, resident.id) == {
        "bus-pass-older": ("revoked", date(2031, 1, 1)),
        "library": ("revoked", date(2031, 1, 1)),
    }
    assert ledger_kinds(app, resident.id)[2:] == [
        ("life-event", "death"),
        ("revoke", "bus-pass-older"),
        ("revoke", "library"),
        ("card-hotlisted", "kent-card"),
    ]
    with in_app(app):
        stored = db_session.get(Resident, resident.id)
        assert stored is not None and stored.status == "deceased"
        card = db_session.get(Card, card_id)
        assert card is not None and (card.status, card.hotlist_reason) == ("hotlisted", None)
        sessions = db_session.scalars(
            select(ResidentSession).where(ResidentSession.resident_id == resident.id)
        ).all()
        assert sessions and all(s.ended_at is not None for s in sessions)
        token = db_session.scalar(select(OAuthToken).where(OAuthToken.jti == jti))
        assert token is not None and token.revoked_at is not None
        life = db_session.get(LifeEvent, life_id)
        assert life is not None and life.reference == "DE-2026-0042"
        assert len(life.ledger_seqs) == 4
        expected_sub = pairwise_sub(app.config["KENTCARD"], bus.sector, resident.id)
    # The bus partner hears of the death and of its service ending; the library of the
    # death only (it did not subscribe to entitlement-ended); the stranger nothing.
    rows = outbox_rows(app)
    assert sorted((r.partner_id, r.event_type) for r in rows) == sorted(
        [
            (bus.partner_id, "death"),
            (bus.partner_id, "entitlement-ended"),
            (library.partner_id, "death"),
        ]
    )
    assert stranger.partner_id not in {r.partner_id for r in rows}
    ended = next(r for r in rows if r.event_type == "entitlement-ended")
    assert ended.payload == {
        "service": "bus-pass-older",
        "ended_on": DIED.isoformat(),
        "reason": "death",
    }
    assert {r.subject for r in rows if r.partner_id == bus.partner_id} == {expected_sub}
    assert len({r.jti for r in rows}) == 3
    assert all(resident.id not in str(r.payload) for r in rows)
    # Signed out; a reader is told the card was cancelled (not "reported lost").
    assert browser.get("/account").status_code == 302
    with in_app(app):
        decision = decide("9826010000000001", "transport", date.today())
        assert (decision.allowed, decision.reason) == (False, "card cancelled")
    # Records kept, and the ledger still verifies.
    engine = app.extensions["kentcard_engine"]
    sign_tree_head(engine, _ledger_key(app))
    key = _ledger_key(app)
    assert verify(engine, {key.key_id: key.public_key}).ok


def test_a_death_that_fails_midway_leaves_nothing_behind(
    app: Flask,
    make_resident: Callable[..., Resident],
    make_partner: Callable[..., PartnerInfo],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    resident = make_resident()
    make_partner("https://bus.example/events", services=["bus-pass-older"])
    grant(app, resident.id, "bus-pass-older")
    card_id = _card(app, resident.id)
    before = ledger_kinds(app, resident.id)
    real = outbox.enqueue
    calls: list[int] = []

    def enqueue_then_fail(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:  # after the ledger events and the first outbox row
            raise RuntimeError("database went away")
        return real(*args, **kwargs)

    monkeypatch.setattr(outbox, "enqueue", enqueue_then_fail)
    with in_app(app), pytest.raises(RuntimeError):
        life_events.record_death(REGISTRAR, resident.id, DIED)

    assert len(calls) == 2
    assert ledger_kinds(app, resident.id) == before
    assert states(app, resident.id)["bus-pass-older"][0] == "active"
    assert outbox_count(app) == 0
    with in_app(app):
        stored = db_session.get(Resident, resident.id)
        assert stored is not None and stored.status == "active"
        card = db_session.get(Card, card_id)
        assert card is not None and card.status == "active"
        assert db_session.scalars(select(LifeEvent)).all() == []


def test_a_death_told_twice_is_recorded_once(
    app: Flask, make_resident: Callable[..., Resident]
) -> None:
    resident = make_resident()
    with in_app(app):
        life_events.record_death(REGISTRAR, resident.id, DIED)
    with in_app(app), pytest.raises(life_events.AlreadyRecorded):
        life_events.record_death(STAFF, resident.id, DIED)
    assert ledger_kinds(app, resident.id).count(("life-event", "death")) == 1


def test_unknown_resident_and_future_death_are_refused(
    app: Flask, make_resident: Callable[..., Resident]
) -> None:
    resident = make_resident()
    with in_app(app), pytest.raises(NotFound):
        life_events.record_death(REGISTRAR, "no-such-resident-id", DIED)
    with in_app(app), pytest.raises(life_events.LifeEventRefused):
        life_events.record_death(REGISTRAR, resident.id, date.today() + timedelta(days=1))
    assert ledger_kinds(app, resident.id) == []


def test_move_out_ends_residency_services_now_and_tells_the_resident(
    app: Flask,
    make_resident: Callable[..., Resident],
    make_partner: Callable[..., PartnerInfo],
    outbox: Callable[..., list[Any]],
) -> None:
    resident = make_resident()
    bus = make_partner("https://bus.example/events", services=["bus-pass-older"])
    grant(app, resident.id, "bus-pass-older", "library", "proof-of-age-18")
    moved = date.today() - timedelta(days=1)
    with in_app(app):
        life_events.record_move_out(STAFF, resident.id, moved)

    assert states(app, resident.id) == {
        "bus-pass-older": ("revoked", date(2031, 1, 1)),
        # The library serves people who work or study in Kent too; proof of age is not
        # about where anyone lives: both carry on.
        "library": ("active", date(2031, 1, 1)),
        "proof-of-age-18": ("active", date(2031, 1, 1)),
    }
    mails = outbox("notice:moved-out-of-kent", resident.email)
    assert len(mails) == 1 and "Older person's bus pass" in mails[0].body_text
    assert "Lovelace" not in mails[0].body_text
    rows = outbox_rows(app, partner_id=bus.partner_id)
    assert sorted(r.event_type for r in rows) == ["entitlement-ended", "moved-out-of-kent"]


def test_a_move_on_a_later_date_cuts_the_grant_short(
    app: Flask, make_resident: Callable[..., Resident]
) -> None:
    resident = make_resident()
    grant(app, resident.id, "bus-pass-older")
    moving = date.today() + timedelta(days=20)
    with in_app(app):
        life_events.record_move_out(STAFF, resident.id, moving)
    assert states(app, resident.id)["bus-pass-older"] == (
        "active",
        moving - timedelta(days=1),
    )


def test_change_of_name_updates_the_record_and_offers_a_new_card(
    app: Flask,
    make_resident: Callable[..., Resident],
    make_partner: Callable[..., PartnerInfo],
    outbox: Callable[..., list[Any]],
) -> None:
    resident = make_resident()
    bus = make_partner("https://bus.example/events", services=["bus-pass-older"])
    grant(app, resident.id, "bus-pass-older")
    _card(app, resident.id)
    with in_app(app):
        life_events.record_name_change(STAFF, resident.id, date.today(), "Ada", "King")
        stored = db_session.get(Resident, resident.id)
        assert stored is not None and stored.family_name == "King"
    mails = outbox("notice:name-changed", resident.email)
    assert len(mails) == 1 and "new Kent Card" in mails[0].body_text
    rows = outbox_rows(app, partner_id=bus.partner_id)
    assert [r.event_type for r in rows] == ["name-changed"]
    assert "King" not in str(rows[0].payload)
    assert ledger_kinds(app, resident.id)[-1] == ("life-event", "name-changed")
    with in_app(app), pytest.raises(life_events.LifeEventRefused):
        life_events.record_name_change(STAFF, resident.id, date.today(), "Ada", "King")


def test_change_of_address_is_recorded_once_for_every_service(
    app: Flask,
    client: Any,
    make_resident: Callable[..., Resident],
    make_partner: Callable[..., PartnerInfo],
) -> None:
    resident = make_resident(uprn="200003390404")
    bus = make_partner("https://bus.example/events", services=["bus-pass-older"])
    grant(app, resident.id, "bus-pass-older")
    new = {"address_line_1": "1 High Street", "town": "Canterbury", "postcode": "CT1 2AA"}
    with in_app(app):
        life_events.record_address_change(STAFF, resident.id, date.today(), new)
        stored = db_session.get(Resident, resident.id)
        assert stored is not None
        assert stored.address_claim()["postal_code"] == "CT1 2AA"
        assert stored.uprn is None
    rows = outbox_rows(app, partner_id=bus.partner_id)
    assert [r.event_type for r in rows] == ["address-changed"]
    assert "Canterbury" not in str(rows[0].payload)
    with in_app(app), pytest.raises(life_events.LifeEventRefused):
        life_events.record_address_change(STAFF, resident.id, date.today(), {"town": "Deal"})


def test_nothing_changes_on_a_closed_record(
    app: Flask, make_resident: Callable[..., Resident]
) -> None:
    resident = make_resident()
    with in_app(app):
        life_events.record_death(REGISTRAR, resident.id, DIED)
    with in_app(app), pytest.raises(life_events.LifeEventRefused):
        life_events.record_name_change(STAFF, resident.id, date.today(), "A", "B")
