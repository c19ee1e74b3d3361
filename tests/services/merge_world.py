"""Two records of one person, each holding something of everything a merge moves.

``Ada`` registered online (email and password) and holds a library membership until
2027 and a Blue Badge until 2030. ``Ada at the Gateway`` was registered again at the
counter, same name, date of birth and address; staff saw her passport there, and she
holds the older person's bus pass, a longer library membership, a shorter Blue Badge, an
active Kent Card, a request waiting for a decision, a connected service, a signed-in
session and a token, and a partner's pairwise subject.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import select

from entitlements.facts import Disability, DisabilityCategory, FactName, VerificationLevel
from entitlements.ledger import store
from entitlements.ledger.events import Channel, EventKind, LedgerEvent
from idservice.cards import dao as cards_dao
from idservice.db import db_session
from idservice.models import (
    AuditRecord,
    Card,
    Consent,
    IdentityEvidence,
    OAuthToken,
    PairwiseSubject,
    Resident,
    ResidentFact,
    ResidentSession,
    ServiceRequest,
)
from idservice.models.cards import CARD_ACTIVE
from idservice.oauth import dao as oauth_dao
from idservice.oauth.claims import pairwise_sub
from idservice.oauth.clients import register_client
from idservice.services import facts
from idservice.services.merge_steps import StaffActor
from tests.accounts.conftest import in_app
from tests.factories import create_resident, create_staff, sign_in_client

SECTOR = "leisure.example"
BUS_PASS_UNTIL = date(2031, 3, 1)


@dataclass(frozen=True)
class World:
    kept: str
    other: str
    staff_id: str
    card_id: str
    card_number: str
    request_id: str
    consent_id: int
    evidence_id: int
    fact_ids: dict[str, int]
    client_id: str
    jti: str

    def actor(self, reason: str = "Registered online and again at the Gateway") -> StaffActor:
        return StaffActor(self.staff_id, "gateway-team-leader", "face-to-face", reason)


def _grant(app: Flask, resident_id: str, service: str, until: date | None) -> None:
    store.append(
        app.extensions["kentcard_engine"],
        [
            LedgerEvent(
                kind=EventKind.GRANT,
                resident=resident_id,
                service=service,
                actor="tests",
                channel=Channel.FACE_TO_FACE,
                reason="eligible on checked facts",
                occurred_at=datetime.now(UTC),
                valid_from=date(2024, 1, 1),
                valid_until=until,
            )
        ],
    )


def build(app: Flask) -> World:
    with in_app(app):
        staff = create_staff(role="gateway-team-leader")
        kept = create_resident(email="ada@example.com")
        other = create_resident(email=None, password=None, email_confirmed=False)
        recorder = facts.Recorder("staff", staff.id, "face-to-face", "gateway-officer", "desk")
        dob = facts.record(
            other.id,
            FactName.DATE_OF_BIRTH,
            other.date_of_birth,
            source="staff-seen-document",
            level=VerificationLevel.CHECKED,
            by=recorder,
            evidence_type="passport",
            evidence_last4="1234",
        )
        disability = facts.record(
            other.id,
            FactName.DISABILITY,
            Disability(DisabilityCategory.BLIND_OR_PARTIALLY_SIGHTED, "vision certificate"),
            source="staff-seen-document",
            level=VerificationLevel.CHECKED,
            by=recorder,
            evidence_type="vision-certificate",
            evidence_last4="0042",
        )
        assert dob is not None and disability is not None
        card = cards_dao.dao_create_card(
            card_number=cards_dao.dao_next_card_number("982601"),
            resident_id=other.id,
            status=CARD_ACTIVE,
            expiry=date.today() + timedelta(days=365 * 4),
        )
        request = ServiceRequest(
            resident_id=other.id,
            service="bus-pass-disabled",
            status="waiting",
            channel="face-to-face",
            expected_by=date.today() + timedelta(days=14),
            needs=["disability"],
        )
        db_session.add(request)
        registered = register_client(
            name="Leisure Kent",
            redirect_uris=["https://leisure.example/callback"],
            grant_types=["authorization_code"],
            scope="openid profile",
            sector=SECTOR,
        )
        consent = Consent(
            resident_id=other.id, client_id=registered.client.client_id, scope="openid profile"
        )
        db_session.add(consent)
        evidence = IdentityEvidence(
            resident_id=other.id,
            document_type="passport",
            reference_last4="1234",
            reference_hash="a" * 64,
            checked_by_staff_id=staff.id,
            channel="face-to-face",
        )
        db_session.add(evidence)
        now = datetime.now(UTC)
        oauth_dao.dao_create_token(
            jti="jti-of-the-gateway-record",
            client_id=registered.client.client_id,
            scope="openid",
            issued_at=now,
            access_expires_at=now + timedelta(minutes=10),
            resident_id=other.id,
        )
        settings = app.config["KENTCARD"]
        oauth_dao.dao_remember_subject(SECTOR, pairwise_sub(settings, SECTOR, other.id), other.id)
        db_session.commit()
        world = World(
            kept=kept.id,
            other=other.id,
            staff_id=staff.id,
            card_id=card.id,
            card_number=card.card_number,
            request_id=request.id,
            consent_id=consent.id,
            evidence_id=evidence.id,
            fact_ids={"date_of_birth": dob.id, "disability": disability.id},
            client_id=registered.client.client_id,
            jti="jti-of-the-gateway-record",
        )
    with in_app(app):
        person = db_session.get(Resident, world.other)
        assert person is not None
        sign_in_client(app, app.test_client(), person)
    _grant(app, world.kept, "library", date(2027, 6, 30))
    _grant(app, world.kept, "blue-badge", date(2030, 1, 31))
    _grant(app, world.other, "bus-pass-older", BUS_PASS_UNTIL)
    _grant(app, world.other, "library", None)
    _grant(app, world.other, "blue-badge", date(2029, 1, 31))
    return world


def states(app: Flask, resident_id: str) -> dict[str, tuple[str, date | None, date | None]]:
    return {
        s.service: (s.status, s.valid_from, s.valid_until)
        for s in store.states(app.extensions["kentcard_engine"])
        if s.resident == resident_id
    }


def owner(app: Flask, model: Any, key: Any) -> str | None:
    with in_app(app):
        row = db_session.get(model, key)
        return None if row is None else row.resident_id  # type: ignore[no-any-return]


def current_facts(app: Flask, resident_id: str) -> dict[str, int]:
    with in_app(app):
        rows = db_session.scalars(
            select(ResidentFact).where(
                ResidentFact.resident_id == resident_id, ResidentFact.superseded_at.is_(None)
            )
        )
        return {row.name: row.id for row in rows}


def resident(app: Flask, resident_id: str) -> Resident:
    with in_app(app):
        found = db_session.get(Resident, resident_id)
        assert found is not None
        db_session.expunge(found)
        return found


def card(app: Flask, card_id: str) -> Card:
    with in_app(app):
        found = db_session.get(Card, card_id)
        assert found is not None
        db_session.expunge(found)
        return found


def audit_actions(app: Flask, resident_id: str) -> list[AuditRecord]:
    with in_app(app):
        rows = list(
            db_session.scalars(
                select(AuditRecord)
                .where(AuditRecord.resident_id == resident_id)
                .order_by(AuditRecord.id)
            )
        )
        db_session.expunge_all()
        return rows


def sign_in_state(app: Flask, world: World) -> tuple[bool, bool]:
    """(a session of the merged record is still open, its token is still good)."""
    with in_app(app):
        sessions = db_session.scalars(
            select(ResidentSession).where(ResidentSession.resident_id == world.other)
        ).all()
        token = db_session.scalar(select(OAuthToken).where(OAuthToken.jti == world.jti))
        assert token is not None
        return any(s.ended_at is None for s in sessions), token.revoked_at is None


def subject_owner(app: Flask, resident_id: str) -> str | None:
    subject = pairwise_sub(app.config["KENTCARD"], SECTOR, resident_id)
    return owner(app, PairwiseSubject, (SECTOR, subject))
