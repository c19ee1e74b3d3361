"""Fixtures for the add-a-service journey: residents, staff, and what was stored."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, text

from entitlements.dates import academic_year_start
from entitlements.ledger.events import LedgerEvent
from idservice.db import db_session
from idservice.models import ResidentFact, ServiceRequest
from tests.accounts.conftest import in_app, make_resident, outbox, reload, snapshot
from tests.staff.conftest import audit_rows, make_staff, staff_client

__all__ = [
    "audit_rows",
    "make_resident",
    "make_staff",
    "outbox",
    "reload",
    "snapshot",
    "staff_client",
]


def sixth_former() -> date:
    """A date of birth that makes someone 17 on the 31 August before this school year."""
    return date(academic_year_start(date.today()) - 17, 1, 15)


@pytest.fixture
def ledger_events(app: Flask) -> Callable[[], list[tuple[int, LedgerEvent]]]:
    def get() -> list[tuple[int, LedgerEvent]]:
        with in_app(app):
            rows = db_session.execute(text("SELECT body FROM ledger_events ORDER BY seq"))
            return [LedgerEvent.from_body(row.body.encode()) for row in rows]

    return get


@pytest.fixture
def stored_requests(app: Flask) -> Callable[..., list[ServiceRequest]]:
    def get(resident_id: str | None = None) -> list[ServiceRequest]:
        with in_app(app):
            query = select(ServiceRequest).order_by(ServiceRequest.requested_at)
            if resident_id:
                query = query.where(ServiceRequest.resident_id == resident_id)
            rows = list(db_session.scalars(query))
            db_session.expunge_all()
            return rows

    return get


@pytest.fixture
def stored_facts(app: Flask) -> Callable[..., list[ResidentFact]]:
    """Every fact row of a resident, oldest first (``current=True``: not superseded)."""

    def get(resident_id: str, current: bool = False, **where: Any) -> list[ResidentFact]:
        with in_app(app):
            query = select(ResidentFact).where(ResidentFact.resident_id == resident_id)
            if current:
                query = query.where(ResidentFact.superseded_at.is_(None))
            for name, value in where.items():
                query = query.where(getattr(ResidentFact, name) == value)
            rows = list(db_session.scalars(query.order_by(ResidentFact.id)))
            db_session.expunge_all()
            return rows

    return get


from tests.entitlements.conftest import cli, engine  # noqa: E402
from tests.partners.conftest import make_partner  # noqa: E402

__all__ += ["cli", "engine", "make_partner"]
