"""Helpers for the daily sweep's tests: grants on given dates, and what the sweep left."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import Engine, select, text

from entitlements.due import latest_born
from entitlements.ledger import store
from entitlements.ledger.events import Channel, EventKind, LedgerEvent
from entitlements.pension_age import concessionary_travel_date
from idservice.db import db_session
from idservice.models import Notice, PartnerEvent, ServiceOffer
from idservice.models.sweep import SweepRun
from idservice.services.sweep import SweepReport, sweep
from tests.accounts.conftest import in_app


def engine_of(app: Flask) -> Engine:
    engine: Engine = app.extensions["kentcard_engine"]
    return engine


def grant(app: Flask, resident_id: str, service: str, valid_from: date, until: date | None) -> None:
    """A grant in the ledger, as the journey would have made it on ``valid_from``."""
    event = LedgerEvent(
        kind=EventKind.GRANT,
        resident=resident_id,
        service=service,
        actor="system",
        channel=Channel.SYSTEM,
        reason="granted for the test",
        occurred_at=datetime.now(UTC),
        valid_from=valid_from,
        valid_until=until,
    )
    store.append(engine_of(app), [event])


def run(app: Flask, on: date, **kw: Any) -> SweepReport:
    with in_app(app):
        return sweep(on, **kw)


def bus_pass_birthday(years_ahead: int = 3) -> tuple[date, date]:
    """A date of birth whose bus pass age comes ``years_ahead`` years from now, and that day
    (in the future, so registering the resident today offers no bus pass)."""
    target = date.today() + timedelta(days=365 * years_ahead)
    born = latest_born(concessionary_travel_date, target)
    return born, concessionary_travel_date(born)


def states(app: Flask) -> dict[tuple[str, str], tuple[str, date | None]]:
    return {
        (s.resident, s.service): (s.status, s.valid_until) for s in store.states(engine_of(app))
    }


def event_kinds(app: Flask, resident_id: str | None = None) -> list[tuple[str, str, str]]:
    with in_app(app):
        rows = db_session.execute(text("SELECT body FROM ledger_events ORDER BY seq"))
        found = [LedgerEvent.from_body(row.body.encode())[1] for row in rows]
    return [
        (e.kind.value, e.resident, e.service)
        for e in found
        if resident_id is None or e.resident == resident_id
    ]


def notices_of(app: Flask, kind: str | None = None) -> list[Notice]:
    with in_app(app):
        query = select(Notice).order_by(Notice.id)
        if kind:
            query = query.where(Notice.kind == kind)
        rows = list(db_session.scalars(query))
        db_session.expunge_all()
        return rows


def offers_of(app: Flask, resident_id: str) -> list[ServiceOffer]:
    with in_app(app):
        rows = list(
            db_session.scalars(select(ServiceOffer).where(ServiceOffer.resident_id == resident_id))
        )
        db_session.expunge_all()
        return rows


def partner_events(app: Flask) -> list[PartnerEvent]:
    with in_app(app):
        rows = list(db_session.scalars(select(PartnerEvent).order_by(PartnerEvent.id)))
        db_session.expunge_all()
        return rows


def sweep_runs(app: Flask) -> list[SweepRun]:
    with in_app(app):
        rows = list(db_session.scalars(select(SweepRun).order_by(SweepRun.swept_on)))
        db_session.expunge_all()
        return rows


def everything(app: Flask, but: tuple[str, ...] = ()) -> dict[str, list[tuple[str, ...]]]:
    """Every row of every table, the ledger's included (``but`` leaves tables out)."""
    from idservice.models import Base

    tables = [t.name for t in Base.metadata.sorted_tables] + [
        "ledger_events",
        "ledger_head",
        "entitlement_states",
    ]
    with in_app(app):
        conn = db_session.connection()
        return {
            name: sorted(
                tuple(str(v) for v in row) for row in conn.execute(text(f"SELECT * FROM {name}"))
            )
            for name in tables
            if name not in but
        }
