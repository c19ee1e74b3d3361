"""Renewals through the ordinary journey: confirming details keeps a library membership
(and starts a paused one again), a bus pass renewal checks residency again, and proof of
age follows the Kent Card."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from entitlements.dates import add_years_months
from entitlements.facts import Address, FactName
from entitlements.ledger import store
from entitlements.ledger.events import Channel, EventKind, LedgerEvent
from idservice.db import db_session
from idservice.models import Resident, ResidentFact
from idservice.models.base import utcnow
from idservice.services import add_service, facts
from tests.accounts.conftest import csrf_from, in_app, text
from tests.cards.conftest import blank_card, issuer, resident_and_actor
from tests.cards.test_issuance import issue_one
from tests.factories import sign_in_client
from tests.services.sweep_helpers import engine_of, grant, states

__all__ = ["blank_card", "issuer", "resident_and_actor"]
TODAY = date.today()


def signed_in(app: Flask, make_resident: Callable[..., Resident]) -> tuple[FlaskClient, Resident]:
    resident = make_resident()
    client = app.test_client()
    sign_in_client(app, client, resident)
    return client, resident


def _check_and_post(client: FlaskClient, code: str) -> str:
    check = client.get(f"/account/services/{code}/check")
    response = client.post(f"/account/services/{code}/check", data={"csrf_token": csrf_from(check)})
    assert response.status_code == 302, text(response)
    return text(client.get(response.headers["Location"]))


def test_confirming_details_keeps_the_library_membership(
    app: Flask, make_resident, ledger_events
) -> None:
    client, ada = signed_in(app, make_resident)
    due = TODAY + timedelta(days=10)
    grant(app, ada.id, "library", due - timedelta(days=3 * 365), due)
    listed = text(client.get("/account/services"))
    assert f"Details to confirm by {due.day}" in listed
    assert 'href="/account/services/library">Confirm details' in listed
    start = text(client.get("/account/services/library"))
    assert "confirm the details we hold are still right" in start and "ME14 1XQ" in start
    check = text(client.get("/account/services/library/check"))
    assert "Confirm the details are right" in check
    outcome = _check_and_post(client, "library")
    assert "Library membership renewed" in outcome
    renewed = [e for _, e in ledger_events() if e.service == "library"][-1]
    assert renewed.kind is EventKind.RENEW and renewed.reason.startswith("renewed:")
    next_due = add_years_months(TODAY, years=3) - timedelta(days=1)
    assert (renewed.valid_from, renewed.valid_until) == (due - timedelta(days=3 * 365), next_due)
    assert 'href="/account/services/library">Confirm details' not in text(
        client.get("/account/services")
    )


def test_a_paused_library_membership_starts_again_when_details_are_confirmed(
    app: Flask, make_resident
) -> None:
    client, ada = signed_in(app, make_resident)
    due = TODAY - timedelta(days=20)
    grant(app, ada.id, "library", due - timedelta(days=3 * 365), due)
    pause = LedgerEvent(
        EventKind.SUSPEND, ada.id, "library", "system", Channel.SYSTEM, "paused", utcnow()
    )
    store.append(engine_of(app), [pause])
    assert "Paused until the details are confirmed" in text(client.get("/account/services"))
    assert "it is paused until you do" in text(client.get("/account/services/library"))
    _check_and_post(client, "library")
    assert states(app)[(ada.id, "library")] == (
        "active",
        add_years_months(TODAY, years=3) - timedelta(days=1),
    )


def test_a_bus_pass_renewal_checks_residency_again(
    app: Flask, make_resident, staff_client, ledger_events, stored_requests
) -> None:
    client, ada = signed_in(app, make_resident)
    _, officer = staff_client()
    by = facts.Recorder("staff", officer.id, "face-to-face", "gateway-officer")
    with in_app(app):
        for name, value, kind in (
            (FactName.DATE_OF_BIRTH, ada.date_of_birth, "passport"),
            (FactName.ADDRESS, Address("ME14 1XQ"), "council-tax-bill"),
        ):
            facts.record_fact(ada.id, name, value, evidence_type=kind, evidence_last4="1234", by=by)
        # Both were seen five years ago, when the pass was granted.
        db_session.execute(
            update(ResidentFact)
            .where(ResidentFact.resident_id == ada.id)
            .values(recorded_at=utcnow() - timedelta(days=5 * 365))
        )
        db_session.commit()
    ends = TODAY + timedelta(days=20)
    started = ends - timedelta(days=5 * 365)
    grant(app, ada.id, "bus-pass-older", started, ends)
    assert 'href="/account/services/bus-pass-older">Renew' in text(client.get("/account/services"))

    check = text(client.get("/account/services/bus-pass-older/check"))
    assert "proof of your home address and postcode again" in check
    assert "date of birth" not in check.split("What happens next")[1]  # proved for good
    _check_and_post(client, "bus-pass-older")
    [request] = stored_requests(ada.id)
    assert request.needs == ["address"]
    assert states(app)[(ada.id, "bus-pass-older")] == ("active", ends)  # runs on meanwhile

    applicant = add_service.Applicant.staff(
        ada.id, officer.id, "gateway-officer", "face-to-face", "renewal"
    )
    with in_app(app):
        facts.record_fact(
            ada.id,
            FactName.ADDRESS,
            Address("ME14 1XQ"),
            evidence_type="utility-bill",
            evidence_last4="9876",
            by=by,
        )
        add_service.approve(applicant, request.id, TODAY)
    renewed = [e for _, e in ledger_events() if e.service == "bus-pass-older"][-1]
    assert renewed.kind is EventKind.RENEW
    new_end = add_years_months(ends + timedelta(days=1), years=5) - timedelta(days=1)
    assert (renewed.valid_from, renewed.valid_until) == (started, new_end)
    assert states(app)[(ada.id, "bus-pass-older")] == ("active", new_end)


def test_a_service_outside_its_renewal_window_is_not_renewed(
    app: Flask, make_resident, ledger_events
) -> None:
    client, ada = signed_in(app, make_resident)
    grant(app, ada.id, "library", TODAY, TODAY + timedelta(days=400))
    assert "Confirm details" not in text(client.get("/account/services"))
    assert "You already have this" in text(client.get("/account/services/library"))
    check = client.get("/account/services/library/check")
    assert check.status_code == 302  # to the outcome: nothing to do
    before = len(ledger_events())
    with in_app(app):
        try:
            add_service.apply(add_service.Applicant.resident(ada.id), "library", {}, TODAY)
        except add_service.ApplicationProblem as exc:
            assert "You already have" in str(exc)
        else:
            raise AssertionError("renewed outside the window")
    assert len(ledger_events()) == before


def test_proof_of_age_lasts_as_long_as_the_kent_card(
    app: Flask, blank_card, resident_and_actor, ledger_events
) -> None:
    resident_id, actor = resident_and_actor
    grant(app, resident_id, "proof-of-age-18", date(2026, 1, 5), None)
    card = issue_one(app, actor, resident_id, blank_card())
    assert states(app)[(resident_id, "proof-of-age-18")] == ("active", card.expiry)
    renewed = [e for _, e in ledger_events() if e.service == "proof-of-age-18"][-1]
    assert renewed.kind is EventKind.RENEW and renewed.valid_from == date(2026, 1, 5)
