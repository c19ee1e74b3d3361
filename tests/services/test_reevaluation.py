"""Entitlements follow the facts: each change of fact is decided again in its transaction."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import select

from entitlements.facts import Address, Disability, DisabilityCategory, FactName, VerificationLevel
from entitlements.ledger import store
from entitlements.ledger.verify import verify
from idservice.cli import main
from idservice.db import db_session
from idservice.models.notices import Notice, ServiceOffer
from idservice.models.residents import Resident
from idservice.models.service_requests import ServiceRequest
from idservice.services import accounts, add_service, facts, life_events, notices, reevaluation
from tests.accounts.conftest import in_app
from tests.partners.conftest import PartnerInfo, grant, outbox_rows, states

TODAY = date.today()
GATEWAY = facts.Recorder("staff", "staff-0001", "face-to-face", "gateway-officer", "at the desk")


def _move(app: Flask, resident_id: str, postcode: str, town: str = "Chatham") -> None:
    """The resident changes their address online, as the "Change your details" page does."""
    with in_app(app):
        accounts.update_details(
            resident_id,
            {"address_line_1": "1 New Road", "town": town, "postcode": postcode},
            channel="web",
        )


def _notices(app: Flask, resident_id: str) -> list[Notice]:
    with in_app(app):
        rows = list(
            db_session.scalars(
                select(Notice).where(Notice.resident_id == resident_id).order_by(Notice.id)
            )
        )
        db_session.expunge_all()
        return rows


def _last_event(app: Flask, resident_id: str, service: str) -> Any:
    engine = app.extensions["kentcard_engine"]
    with engine.connect() as conn:
        row = conn.execute(
            select(store.EVENTS)
            .where(store.EVENTS.c.resident == resident_id, store.EVENTS.c.service == service)
            .order_by(store.EVENTS.c.seq.desc())
            .limit(1)
        ).one()
    return json.loads(row.body)


def test_moving_to_medway_online_starts_the_bus_pass_grace_and_tells_the_partner(
    app: Flask,
    make_resident: Callable[..., Resident],
    make_partner: Callable[..., PartnerInfo],
    outbox: Callable[..., list[Any]],
) -> None:
    resident = make_resident(date_of_birth=date(1950, 3, 1))
    bus = make_partner("https://bus.example/events", services=["bus-pass-older"])
    grant(app, resident.id, "bus-pass-older")

    _move(app, resident.id, "ME4 4AA")

    ends = TODAY + timedelta(days=90)
    assert states(app, resident.id)["bus-pass-older"] == ("active", ends)
    body = _last_event(app, resident.id, "bus-pass-older")
    assert body["kind"] == "renew"
    assert body["reason"] == "ending: not eligible: lives-in-kent; grace 90 days"
    assert any(ref.startswith("fact:") for ref in body["evidence"])  # the new address
    assert body["actor"] == "resident" and body["channel"] == "web"
    (row,) = outbox_rows(app, partner_id=bus.partner_id)
    assert row.event_type == "entitlement-ended"
    assert row.payload == {
        "service": "bus-pass-older",
        "ended_on": (ends + timedelta(days=1)).isoformat(),
        "reason": "no-longer-eligible",
    }
    (notice,) = [n for n in _notices(app, resident.id) if n.kind == "entitlement-ending"]
    assert notice.channel == "email"
    (mail,) = outbox("notice:entitlement-ending", resident.email)
    assert "will end on" in mail.subject and "90 days" in mail.body_text
    assert "Lovelace" not in mail.body_text and "ME4" not in mail.body_text
    # Deciding again changes nothing more: the pass is already ending by then.
    with in_app(app):
        result = reevaluation.reevaluate(resident.id, TODAY)
        db_session.commit()
    assert not result.ending and not result.ended
    assert states(app, resident.id)["bus-pass-older"] == ("active", ends)


def test_moving_to_scotland_ends_the_bus_pass_at_once(
    app: Flask, make_resident: Callable[..., Resident]
) -> None:
    resident = make_resident(date_of_birth=date(1950, 3, 1))
    grant(app, resident.id, "bus-pass-older", "proof-of-age-18")
    _move(app, resident.id, "EH1 1YZ", town="Edinburgh")
    held = states(app, resident.id)
    assert held["bus-pass-older"][0] == "revoked"
    assert held["proof-of-age-18"][0] == "active"  # not about where anyone lives
    assert _last_event(app, resident.id, "bus-pass-older")["reason"] == (
        "not eligible: lives-in-kent"
    )
    kinds = [n.kind for n in _notices(app, resident.id)]
    assert "entitlement-ended" in kinds


def test_a_move_within_kent_changes_nothing(
    app: Flask, make_resident: Callable[..., Resident]
) -> None:
    resident = make_resident(date_of_birth=date(1950, 3, 1))
    grant(app, resident.id, "bus-pass-older", "library")
    before = states(app, resident.id)
    _move(app, resident.id, "CT9 1AA", town="Margate")
    assert states(app, resident.id) == before
    assert not [n for n in _notices(app, resident.id) if n.kind.startswith("entitlement")]


def test_the_change_and_what_follows_it_commit_together_or_not_at_all(
    app: Flask, make_resident: Callable[..., Resident], monkeypatch: pytest.MonkeyPatch
) -> None:
    resident = make_resident(date_of_birth=date(1950, 3, 1))
    grant(app, resident.id, "bus-pass-older")

    def ledger_fails(*_args: Any, **_kwargs: Any) -> list[int]:
        raise RuntimeError("the ledger is unavailable")

    monkeypatch.setattr(store, "append_in", ledger_fails)
    with pytest.raises(RuntimeError):
        _move(app, resident.id, "ME4 4AA")
    monkeypatch.undo()
    with in_app(app):
        stored = db_session.get(Resident, resident.id)
        assert stored is not None and stored.postcode == "ME14 1XQ"
        address = facts.current_value(resident.id, FactName.ADDRESS)
        assert address is not None and address.postcode == "ME14 1XQ"  # type: ignore[union-attr]
    assert states(app, resident.id)["bus-pass-older"] == ("active", date(2031, 1, 1))


def test_a_registrar_move_ends_the_kent_address_so_nothing_is_granted_from_it(
    app: Flask,
    make_resident: Callable[..., Resident],
    make_staff: Callable[..., Any],
    cli: CliRunner,
) -> None:
    staff = make_staff()
    resident = make_resident(date_of_birth=date(1950, 3, 1))
    with in_app(app):
        for name, value in (
            (FactName.DATE_OF_BIRTH, date(1950, 3, 1)),
            (FactName.ADDRESS, Address("ME14 1XQ")),
        ):
            facts.record_fact(
                resident.id,
                name,
                value,
                evidence_type="passport",
                evidence_last4="1234",
                by=GATEWAY,
            )
    grant(app, resident.id, "bus-pass-older")
    registrar = life_events.Notifier("registrar", "registrar-feed", reference="MV-1")
    with in_app(app):
        life_events.record_move_out(registrar, resident.id, TODAY - timedelta(days=1))
    assert states(app, resident.id)["bus-pass-older"][0] == "revoked"
    with in_app(app):
        assert facts.current_value(resident.id, FactName.ADDRESS) is None
    listed = cli.invoke(
        main,
        ["entitlements", "due", "--on", TODAY.isoformat(), "--service", "bus-pass-older", "--json"],
    )
    assert listed.exit_code == 0, listed.output
    assert resident.id not in listed.output
    # A Gateway officer cannot grant it "straight away" from the old address.
    with in_app(app):
        applicant = add_service.Applicant.staff(
            resident.id, staff.id, "gateway-officer", "face-to-face", "resident at the desk"
        )
        result = add_service.apply(applicant, "bus-pass-older", {}, TODAY)
    assert result.route is not add_service.Route.GRANT
    assert states(app, resident.id)["bus-pass-older"][0] == "revoked"


def test_a_registrar_address_change_records_the_new_address_and_follows_it(
    app: Flask, make_resident: Callable[..., Resident]
) -> None:
    resident = make_resident(date_of_birth=date(1950, 3, 1))
    grant(app, resident.id, "bus-pass-older")
    registrar = life_events.Notifier("registrar", "registrar-feed", reference="AD-1")
    with in_app(app):
        life_events.record_address_change(
            registrar,
            resident.id,
            TODAY,
            {"address_line_1": "2 Castle Street", "town": "Edinburgh", "postcode": "EH1 2NG"},
        )
        address = facts.current_value(resident.id, FactName.ADDRESS)
    assert address is not None and address.postcode == "EH1 2NG"  # type: ignore[union-attr]
    assert states(app, resident.id)["bus-pass-older"][0] == "revoked"


def test_a_waiting_request_closes_when_a_correction_makes_the_resident_too_young(
    app: Flask, make_resident: Callable[..., Resident]
) -> None:
    resident = make_resident(date_of_birth=date(1950, 3, 1), email=None)
    with in_app(app):
        result = add_service.apply(
            add_service.Applicant.resident(resident.id), "bus-pass-older", {}, TODAY
        )
        assert result.route is add_service.Route.REQUEST
    with in_app(app):  # staff correct a typing mistake in the year of birth
        accounts.update_details(
            resident.id,
            {"date_of_birth": date(1990, 3, 1)},
            actor_type="staff",
            actor_id="staff-0001",
            channel="face-to-face",
            reason="typing mistake at registration",
        )
        request = db_session.scalar(
            select(ServiceRequest).where(ServiceRequest.resident_id == resident.id)
        )
        assert request is not None
        assert request.status == "refused" and request.decided_by_staff_id is None
        assert request.decision_reason is not None
        assert request.decision_reason.startswith("You no longer qualify")
    (notice,) = [n for n in _notices(app, resident.id) if n.kind == "request-closed"]
    assert notice.channel == "letter" and notice.status == "to-post"


def test_a_document_seen_makes_the_offer_ready_to_take(
    app: Flask, make_resident: Callable[..., Resident]
) -> None:
    resident = make_resident(date_of_birth=date(1950, 3, 1))
    with in_app(app):
        offer = db_session.scalar(
            select(ServiceOffer).where(
                ServiceOffer.resident_id == resident.id, ServiceOffer.service == "bus-pass-older"
            )
        )
        assert offer is not None and offer.status == "open" and offer.needs_evidence
    with in_app(app):
        for name, value in (
            (FactName.DATE_OF_BIRTH, date(1950, 3, 1)),
            (FactName.ADDRESS, Address("ME14 1XQ")),
        ):
            facts.record_fact(
                resident.id,
                name,
                value,
                evidence_type="passport",
                evidence_last4="1234",
                by=GATEWAY,
            )
        offer = db_session.scalar(
            select(ServiceOffer).where(
                ServiceOffer.resident_id == resident.id, ServiceOffer.service == "bus-pass-older"
            )
        )
        assert offer is not None and offer.status == "open" and not offer.needs_evidence
    with in_app(app):
        result = add_service.apply(
            add_service.Applicant.resident(resident.id), "bus-pass-older", {}, TODAY
        )
        assert result.route is add_service.Route.GRANT
        offer = db_session.get(ServiceOffer, offer.id)
        assert offer is not None and offer.status == "taken"


def test_registration_offers_quietly_and_a_later_change_tells_in_one_notice(
    app: Flask, make_resident: Callable[..., Resident], outbox: Callable[..., list[Any]]
) -> None:
    resident = make_resident(date_of_birth=date(1990, 3, 1))

    def open_offers() -> set[str]:
        with in_app(app):
            return {
                o.service
                for o in db_session.scalars(
                    select(ServiceOffer).where(
                        ServiceOffer.resident_id == resident.id, ServiceOffer.status == "open"
                    )
                )
            }

    assert {"library"} <= open_offers()
    assert "bus-pass-older" not in open_offers()
    # Shown on the pages after registering; no notice before the address is even confirmed.
    assert outbox("notice:services-offered", resident.email) == []
    with in_app(app):  # staff correct the year of birth
        accounts.update_details(
            resident.id,
            {"date_of_birth": date(1950, 3, 1)},
            actor_type="staff",
            actor_id="staff-0001",
            channel="phone",
            reason="typing mistake",
        )
    assert {"bus-pass-older", "partner-leisure-60-plus"} <= open_offers()
    (mail,) = outbox("notice:services-offered", resident.email)
    assert "Older person's bus pass" in mail.body_text
    assert "we need to see proof first" in mail.body_text
    assert "Library membership" not in mail.body_text  # offered before: not again


def test_a_fact_that_ends_sooner_cuts_the_grant_short(
    app: Flask, make_resident: Callable[..., Resident]
) -> None:
    resident = make_resident(date_of_birth=date(1990, 3, 1))
    ends = TODAY + timedelta(days=200)
    with in_app(app):
        facts.record_fact(
            resident.id,
            FactName.ADDRESS,
            Address("ME14 1XQ"),
            evidence_type="council-tax-bill",
            evidence_last4="9876",
            by=GATEWAY,
        )
        facts.record_fact(
            resident.id,
            FactName.DISABILITY,
            Disability(DisabilityCategory.WALKING, "PIP award letter"),
            evidence_type="benefit-award-letter",
            evidence_last4="4321",
            by=GATEWAY,
            expires_on=ends,
        )
    grant(app, resident.id, "bus-pass-disabled")  # until 2031, from before the award's end
    with in_app(app):
        reevaluation.reevaluate(resident.id, TODAY)
        db_session.commit()
    assert states(app, resident.id)["bus-pass-disabled"] == ("active", ends)
    assert "entitlement-shortened" in [n.kind for n in _notices(app, resident.id)]


def test_staff_decisions_on_requests_are_told_to_the_resident(
    app: Flask, make_resident: Callable[..., Resident], make_staff: Callable[..., Any]
) -> None:
    staff = make_staff()
    approved = make_resident(date_of_birth=date(1950, 3, 1), email=None)
    refused = make_resident(date_of_birth=date(1950, 3, 1), email=None, given_name="Grace")
    with in_app(app):
        requests = {}
        for resident in (approved, refused):
            result = add_service.apply(
                add_service.Applicant.resident(resident.id), "bus-pass-older", {}, TODAY
            )
            assert result.request is not None
            requests[resident.id] = result.request.id
        for name, value in (
            (FactName.DATE_OF_BIRTH, date(1950, 3, 1)),
            (FactName.ADDRESS, Address("ME14 1XQ")),
        ):
            facts.record_fact(
                approved.id, name, value, evidence_type="passport", evidence_last4="1", by=GATEWAY
            )
        officer = add_service.Applicant.staff(
            approved.id, staff.id, "gateway-officer", "face-to-face", "documents seen"
        )
        add_service.approve(officer, requests[approved.id], TODAY)
        officer = add_service.Applicant.staff(
            refused.id, staff.id, "gateway-officer", "face-to-face", "documents seen"
        )
        add_service.refuse(officer, requests[refused.id], "The bill was more than 3 months old.")
    assert [n.kind for n in _notices(app, approved.id) if n.kind.startswith("request")] == [
        "request-approved"
    ]
    (refusal,) = [n for n in _notices(app, refused.id) if n.kind == "request-refused"]
    assert refusal.channel == "letter" and refusal.context["why"].startswith("The bill")


def test_a_letter_is_addressed_from_the_record_when_it_is_printed(
    app: Flask, make_resident: Callable[..., Resident]
) -> None:
    resident = make_resident(email=None)
    with in_app(app):
        stored = db_session.get(Resident, resident.id)
        assert stored is not None
        stored.alternative_formats = ["large_print"]
        notice = notices.send(stored, "request-refused", service="Library membership", why="X.")
        db_session.commit()
        assert notice is not None and notice.channel == "letter"
        stored.address_line_1 = "3 Later Street"  # they moved before the print run
        db_session.commit()
        (pair,) = [
            p
            for p in notices.dao_letters_to_post()
            if p[1].id == resident.id and p[0].kind == "request-refused"
        ]
        letter = notices.letter(*pair)
    assert letter.address[:2] == ["Ada Lovelace", "3 Later Street"]
    assert "Dear Ada Lovelace" in letter.text and "Large print" in letter.text
    assert "We refused your request for Library membership" in letter.text


def test_erasure_removes_the_facts_held(app: Flask, make_resident: Callable[..., Resident]) -> None:
    from idservice.models.facts import ResidentFact
    from idservice.services import your_data

    resident = make_resident()
    with in_app(app):
        assert your_data.erase(resident.id, password=None, actor_type="staff", actor_id="s-1")
        left = db_session.scalars(
            select(ResidentFact).where(ResidentFact.resident_id == resident.id)
        ).all()
    assert left == []


def test_the_ledger_still_verifies_after_the_changes(
    app: Flask, make_resident: Callable[..., Resident]
) -> None:
    resident = make_resident(date_of_birth=date(1950, 3, 1))
    grant(app, resident.id, "bus-pass-older", "library")
    _move(app, resident.id, "ME4 4AA")
    _move(app, resident.id, "EH1 1YZ", town="Edinburgh")
    report = verify(app.extensions["kentcard_engine"], {})
    assert report.ok, report


def test_recording_a_fact_at_the_same_level_again_decides_nothing_again(
    app: Flask, make_resident: Callable[..., Resident]
) -> None:
    resident = make_resident()
    with in_app(app):
        recorded = facts.record(
            resident.id,
            FactName.DATE_OF_BIRTH,
            date(1956, 12, 10),
            source="self-declared",
            level=VerificationLevel.DECLARED,
            by=facts.Recorder("resident", resident.id, "web"),
        )
        assert recorded is None
        assert facts.CHANGED not in db_session().info
        db_session.commit()


def test_the_print_run_lists_letters_and_marks_them_posted(
    app: Flask, make_resident: Callable[..., Resident], cli: CliRunner, tmp_path: Any
) -> None:
    resident = make_resident(email=None)
    with in_app(app):
        stored = db_session.get(Resident, resident.id)
        assert stored is not None
        notices.send(stored, "request-refused", service="Library membership", why="X.")
        db_session.commit()
    listed = cli.invoke(main, ["notices", "letters", "--json", "--out", str(tmp_path)])
    assert listed.exit_code == 0, listed.output
    (item,) = [json.loads(line) for line in listed.output.splitlines()]
    assert item["kind"] == "request-refused"
    text = (tmp_path / f"{item['notice']}.txt").read_text()
    assert "Sessions House" in text and "Dear Ada Lovelace" in text
    posted = cli.invoke(main, ["notices", "letters", "--mark-posted", "--out", str(tmp_path)])
    assert posted.exit_code == 0, posted.output
    assert "Marked 1 letter(s) posted" in posted.output
    again = cli.invoke(main, ["notices", "letters", "--json"])
    assert again.output.strip() == ""


def test_the_change_page_says_what_ends_and_the_partner_hears_of_it(
    app: Flask,
    make_resident: Callable[..., Resident],
    make_partner: Callable[..., PartnerInfo],
) -> None:
    from tests.accounts.conftest import submit, text
    from tests.factories import sign_in_client

    resident = make_resident(date_of_birth=date(1950, 3, 1))
    bus = make_partner("https://bus.example/events", services=["bus-pass-older"])
    grant(app, resident.id, "bus-pass-older")
    browser = app.test_client()
    sign_in_client(app, browser, resident)
    moved = submit(
        browser,
        "/account/change/address",
        {"address_line_1": "1 High Street", "town": "Chatham", "postcode": "ME4 4AA"},
    )
    assert moved.status_code == 302
    page = text(browser.get(moved.headers["Location"]))
    ends = TODAY + timedelta(days=90)
    assert f"will end on {ends.day} " in page and "not in Kent" in page
    assert states(app, resident.id)["bus-pass-older"] == ("active", ends)
    assert [r.event_type for r in outbox_rows(app, partner_id=bus.partner_id)] == [
        "entitlement-ended"
    ]


def _medway_fact(resident_id: str) -> None:
    facts.record(
        resident_id,
        FactName.ADDRESS,
        Address("ME4 4AA"),
        source="self-declared",
        level=VerificationLevel.DECLARED,
        by=GATEWAY,
    )


def test_a_change_rolled_back_is_not_followed_at_the_next_commit(
    app: Flask, make_resident: Callable[..., Resident]
) -> None:
    # A job's session outlives a transaction (an import line that fails and rolls back):
    # what the rollback undid must not be decided on when the next line commits.
    resident = make_resident(date_of_birth=date(1950, 3, 1))
    grant(app, resident.id, "bus-pass-older")
    before = states(app, resident.id)
    with in_app(app):
        _medway_fact(resident.id)
        db_session.rollback()
        assert facts.pending_changes() == {}
        _medway_fact(resident.id)
        db_session.rollback()
        db_session.commit()
    assert states(app, resident.id) == before


def test_a_savepoint_rolled_back_leaves_the_decision_to_what_is_stored(
    app: Flask, make_resident: Callable[..., Resident]
) -> None:
    resident = make_resident(date_of_birth=date(1950, 3, 1))
    grant(app, resident.id, "bus-pass-older")
    before = states(app, resident.id)
    with in_app(app):
        with db_session.begin_nested() as savepoint:
            _medway_fact(resident.id)
            savepoint.rollback()
        db_session.commit()
    assert states(app, resident.id) == before
    with in_app(app):
        _medway_fact(resident.id)
        db_session.commit()
    assert states(app, resident.id)["bus-pass-older"] == (
        "active",
        TODAY + timedelta(days=90),
    )
