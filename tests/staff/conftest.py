"""Helpers for the staff console tests: real pages, real forms, real CSRF tokens."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from idservice.db import db_session
from idservice.models import AuditRecord, Resident, StaffMember
from tests.accounts.conftest import (
    csrf_from,
    in_app,
    make_resident,
    outbox,
    reload,
    snapshot,
    submit,
)
from tests.cards.conftest import counter, issuer  # noqa: F401  (card fixtures, shared)
from tests.factories import create_staff, sign_in_staff

__all__ = ["make_resident", "outbox", "reload", "snapshot"]


@pytest.fixture
def make_staff(app: Flask) -> Callable[..., StaffMember]:
    def make(**overrides: Any) -> StaffMember:
        with in_app(app):
            staff = create_staff(**overrides)
            db_session.expunge(staff)
            return staff

    return make


@pytest.fixture
def staff_client(
    app: Flask, make_staff: Callable[..., StaffMember]
) -> Callable[..., tuple[FlaskClient, StaffMember]]:
    """A new browser signed in as a new member of staff with ``role``."""

    def make(role: str = "gateway-officer", **overrides: Any) -> tuple[FlaskClient, StaffMember]:
        staff = make_staff(role=role, **overrides)
        client = app.test_client()
        sign_in_staff(app, client, staff)
        return client, staff

    return make


def open_record(
    client: FlaskClient,
    resident_id: str,
    *,
    channel: str = "face-to-face",
    reason: str = "Resident at the desk asking to update their address",
) -> TestResponse:
    url = f"/staff/residents/{resident_id}/open"
    return submit(client, url, {"channel": channel, "reason": reason})


@pytest.fixture
def audit_rows(app: Flask) -> Callable[..., list[AuditRecord]]:
    def get(action: str | None = None, resident_id: str | None = None) -> list[AuditRecord]:
        with in_app(app):
            query = select(AuditRecord).order_by(AuditRecord.id)
            if action:
                query = query.where(AuditRecord.action == action)
            if resident_id:
                query = query.where(AuditRecord.resident_id == resident_id)
            rows = list(db_session.scalars(query))
            db_session.expunge_all()
            return rows

    return get


def personal_values(resident: Resident) -> list[str]:
    """Values that must never appear in an audit record's details."""
    values = [
        resident.given_name,
        resident.family_name,
        resident.date_of_birth.isoformat(),
        resident.address_line_1,
        resident.town,
        resident.postcode,
        resident.email or "",
        resident.phone or "",
    ]
    return [v for v in values if v]


CONFIRM_BOX = re.compile(r'name="confirm" type="checkbox" value="([a-z_]+)"')


def record_evidence(
    client: FlaskClient,
    resident_id: str,
    kind: str,
    reference: str,
    *,
    confirm: bool = True,
    confirm_values: list[str] | None = None,
    request_id: str | None = None,
    **answers: Any,
) -> TestResponse:
    """The identity evidence form as an officer uses it: choose the document, then on its
    page type the reference and (``confirm``) tick every detail from the record it shows,
    or only ``confirm_values``."""
    query = f"?request={request_id}" if request_id else ""
    chosen = submit(
        client, f"/staff/residents/{resident_id}/evidence{query}", {"document_type": kind}
    )
    assert chosen.status_code == 302, chosen.get_data(as_text=True)
    page = client.get(chosen.headers["Location"])
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    data: dict[str, Any] = {
        "reference": reference,
        "shown": re.search(r'name="shown" value="([0-9a-f]+)"', html).group(1),  # type: ignore[union-attr]
        "csrf_token": csrf_from(page),
        **answers,
    }
    if confirm_values is not None:
        data["confirm"] = confirm_values
    elif confirm:
        data["confirm"] = CONFIRM_BOX.findall(html)
    return client.post(chosen.headers["Location"], data=data)


__all__ += ["csrf_from", "open_record", "personal_values", "record_evidence", "submit"]
