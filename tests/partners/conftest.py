"""Partners, their webhooks and residents holding services, for the life-event tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pytest
from flask import Flask
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import Engine, func, select

from entitlements.ledger import store
from entitlements.ledger.events import Channel, EventKind, LedgerEvent
from idservice.db import db_session
from idservice.models.partners import PartnerEvent
from idservice.oauth.clients import register_client
from idservice.partners import registry
from tests.accounts.conftest import in_app, make_resident, outbox
from tests.partners.receiver import Receiver
from tests.staff.conftest import audit_rows, make_staff, staff_client

__all__ = ["audit_rows", "make_resident", "make_staff", "outbox", "staff_client"]


@dataclass(frozen=True)
class PartnerInfo:
    client_id: str
    partner_id: int
    sector: str


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def make_partner(app: Flask) -> Callable[..., PartnerInfo]:
    def make(
        webhook_url: str | None,
        services: list[str] | None = None,
        events: list[str] | None = None,
        name: str = "Kent Bus Operators",
        sector: str | None = None,
    ) -> PartnerInfo:
        with in_app(app):
            registered = register_client(
                name=name,
                grant_types=["client_credentials"],
                scope="entitlements:read",
                sector=sector,
            )
            partner = registry.add_partner(
                registered.client.client_id,
                display_name=name,
                contact_email="events@partner.example",
                webhook_url=webhook_url,
                services=services if services is not None else ["bus-pass-older"],
                events=events,
            )
            db_session.commit()
            return PartnerInfo(registered.client.client_id, partner.id, registered.client.sector)

    return make


def grant(app: Flask, resident_id: str, *services: str) -> None:
    """Grant ``services`` through the real ledger (as a Gateway officer would)."""
    engine: Engine = app.extensions["kentcard_engine"]
    store.append(
        engine,
        [
            LedgerEvent(
                kind=EventKind.GRANT,
                resident=resident_id,
                service=code,
                actor="staff-gateway-test",
                channel=Channel.FACE_TO_FACE,
                reason="eligible on checked facts",
                occurred_at=datetime.now(UTC),
                valid_from=date(2026, 1, 1),
                valid_until=date(2031, 1, 1),
            )
            for code in services
        ],
    )


def states(app: Flask, resident_id: str) -> dict[str, tuple[str, date | None]]:
    engine: Engine = app.extensions["kentcard_engine"]
    return {
        s.service: (s.status, s.valid_until)
        for s in store.states(engine)
        if s.resident == resident_id
    }


def ledger_kinds(app: Flask, resident_id: str) -> list[tuple[str, str]]:
    engine: Engine = app.extensions["kentcard_engine"]
    with engine.connect() as conn:
        rows = conn.execute(
            select(store.EVENTS.c.kind, store.EVENTS.c.service)
            .where(store.EVENTS.c.resident == resident_id)
            .order_by(store.EVENTS.c.seq)
        )
        return [(r.kind, r.service) for r in rows]


def outbox_rows(app: Flask, **where: Any) -> list[PartnerEvent]:
    with in_app(app):
        query = select(PartnerEvent).order_by(PartnerEvent.id)
        for name, value in where.items():
            query = query.where(getattr(PartnerEvent, name) == value)
        rows = list(db_session.scalars(query))
        db_session.expunge_all()
        return rows


def outbox_count(app: Flask) -> int:
    with in_app(app):
        return int(db_session.scalar(select(func.count()).select_from(PartnerEvent)) or 0)


def decode_set(app: Flask, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims of a SET, its signature checked against the published JWKS."""
    published = app.test_client().get("/.well-known/jwks.json").get_json()
    decoded = jwt.decode(token, KeySet.import_key_set(published), algorithms=["ES256"])
    return dict(decoded.header), dict(decoded.claims)
