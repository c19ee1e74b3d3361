"""Histories the property test (``test_fact_history_property.py``) found handled wrongly,
each kept as a plain test of the behaviour that was missing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from flask import Flask
from sqlalchemy import select

from entitlements.dates import academic_year_start
from entitlements.facts import FactName
from entitlements.journey import Route
from idservice.db import db_session
from idservice.models.notices import Notice
from idservice.models.residents import Resident
from idservice.models.service_requests import ServiceRequest
from idservice.services import add_service, facts, reevaluation, sweep
from tests.accounts.conftest import in_app

GATEWAY = facts.Recorder("staff", None, "face-to-face", "gateway-officer", "at the desk")


def _sweep(app: Flask, on: date) -> sweep.SweepReport:
    with in_app(app), reevaluation.as_of(on):
        return sweep.sweep(on)


def _request(app: Flask, resident_id: str, service: str) -> ServiceRequest:
    with in_app(app):
        request = db_session.scalar(
            select(ServiceRequest).where(
                ServiceRequest.resident_id == resident_id, ServiceRequest.service == service
            )
        )
        assert request is not None
        db_session.expunge(request)
        return request


def test_a_request_the_new_school_year_makes_ineligible_is_closed_by_the_sweep(
    app: Flask, make_resident: Callable[..., Resident]
) -> None:
    """Found by the property: a 16+ Travel Saver request waiting for proof of address over
    1 September, when the resident turned too old for it (20 on the 31 August before the
    school year), stayed waiting: no fact changed and no age rule of the resident record
    was crossed, so neither the re-evaluation nor the sweep decided it again."""
    year = academic_year_start(date.today()) - 2  # a school year wholly in the past
    applied, last_day, missed = date(year, 10, 1), date(year + 1, 8, 31), date(year + 1, 9, 1)
    resident = make_resident(date_of_birth=date(year - 19, 6, 1), email=None)  # 19 on 31 Aug
    _sweep(app, applied)  # the first sweep ever: later ones look back to it
    with in_app(app), reevaluation.as_of(applied):
        facts.record_fact(
            resident.id,
            FactName.FULL_TIME_EDUCATION,
            True,
            evidence_type="school-or-college-letter",
            evidence_last4="1234",
            by=GATEWAY,
            expires_on=last_day,
        )
        result = add_service.apply(
            add_service.Applicant.resident(resident.id), "16-plus-travel-saver", {}, applied
        )
        assert result.route is Route.REQUEST  # the address is only self-declared
    _sweep(app, last_day)
    assert _request(app, resident.id, "16-plus-travel-saver").status == "waiting"

    report = _sweep(app, date(year + 1, 9, 2))  # the sweep of 1 September was missed

    assert report.looked_back_to == missed
    request = _request(app, resident.id, "16-plus-travel-saver")
    assert request.status == "refused" and request.decided_by_staff_id is None
    assert request.decision_reason is not None
    assert request.decision_reason.startswith("You no longer qualify")
    with in_app(app):
        kinds = list(
            db_session.scalars(select(Notice.kind).where(Notice.resident_id == resident.id))
        )
    assert "request-closed" in kinds
    # Run again on the same day: nothing more is closed or told.
    _sweep(app, date(year + 1, 9, 2))
    with in_app(app):
        again = list(
            db_session.scalars(select(Notice.kind).where(Notice.resident_id == resident.id))
        )
    assert again == kinds
