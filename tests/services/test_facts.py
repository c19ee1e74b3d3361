"""Facts storage: supersede with history, never weaken, moving ends residency, the
migration's backfill, and ``kentcard entitlements due`` / ``kentcard demo`` on facts."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from click.testing import CliRunner
from flask import Flask
from sqlalchemy import create_engine, text

from entitlements.facts import Address, FactName, VerificationLevel
from entitlements.gazetteer import Residency
from idservice import migrate
from idservice.cli import main
from idservice.db import db_session
from idservice.services import accounts, facts
from tests.accounts.conftest import in_app
from tests.factories import create_resident

STAFF = facts.Recorder("staff", "staff-1", "face-to-face", "gateway-officer", "At the desk")


def test_registration_records_date_of_birth_and_address_as_self_declared(
    app: Flask, stored_facts, audit_rows
) -> None:
    with in_app(app):
        resident = create_resident(postcode="CT9 1AA", uprn="100060000001")
    rows = {r.name: r for r in stored_facts(resident.id)}
    assert set(rows) == {"date_of_birth", "address"}
    assert rows["address"].value == {"v": {"postcode": "CT9 1AA", "uprn": "100060000001"}}
    assert {(r.source, r.level, r.recorded_by_type) for r in rows.values()} == {
        ("self-declared", 1, "system")
    }
    recorded = audit_rows("fact.recorded", resident.id)
    assert sorted(a.details["fact"] for a in recorded) == ["address", "date_of_birth"]
    assert all("1956" not in str(a.details) and "CT9" not in str(a.details) for a in recorded)


def test_a_new_value_supersedes_and_keeps_history_and_never_weakens(
    app: Flask, stored_facts
) -> None:
    with in_app(app):
        resident = create_resident()
        dob = resident.date_of_birth
        checked = facts.record_fact(
            resident.id,
            FactName.DATE_OF_BIRTH,
            dob,
            evidence_type="passport",
            evidence_last4="4567",
            by=STAFF,
        )
        assert checked is not None
        # The resident saying the same again does not weaken what staff saw.
        assert (
            facts.record(
                resident.id,
                FactName.DATE_OF_BIRTH,
                dob,
                source="self-declared",
                level=VerificationLevel.DECLARED,
                by=facts.Recorder("resident", resident.id, "web"),
            )
            is None
        )
        db_session.commit()
        held = facts.facts_for(resident.id).get(FactName.DATE_OF_BIRTH, date.today())
        assert held is not None and held.provenance.level is VerificationLevel.CHECKED
        assert held.provenance.reference == f"fact:{checked.id}"
    history = stored_facts(resident.id, name="date_of_birth")
    assert [(r.level, r.superseded_at is None) for r in history] == [(1, False), (2, True)]


def test_changing_the_date_of_birth_records_a_new_self_declared_fact(
    app: Flask, stored_facts
) -> None:
    with in_app(app):
        resident = create_resident()
        accounts.update_details(resident.id, {"date_of_birth": date(1960, 2, 1)})
    current = stored_facts(resident.id, current=True, name="date_of_birth")
    assert [r.value for r in current] == [{"v": "1960-02-01"}]
    assert len(stored_facts(resident.id, name="date_of_birth")) == 2


def test_moving_house_ends_a_lives_in_kent_fact_and_clears_the_uprn(
    app: Flask, stored_facts, audit_rows
) -> None:
    with in_app(app):
        resident = create_resident(postcode="ME1 1AA")
        facts.record_fact(
            resident.id,
            FactName.LIVES_IN_KENT,
            True,
            evidence_type="council-tax-bill",
            evidence_last4="7766",
            by=STAFF,
        )
        accounts.update_details(resident.id, {"postcode": "ME4 4AA"})
    assert stored_facts(resident.id, current=True, name="lives_in_kent") == []
    [address] = stored_facts(resident.id, current=True, name="address")
    assert address.value == {"v": {"postcode": "ME4 4AA", "uprn": None}}
    [ended] = audit_rows("fact.ended", resident.id)
    assert ended.details == {"fact": "lives_in_kent", "why": "address changed"}


def test_residency_comes_from_the_gazetteer_and_is_never_guessed() -> None:
    assert facts.residency(Address("ME14 1XQ"))[0] is Residency.IN_KENT
    assert facts.residency(Address("ME4 4AA"))[0] is Residency.NOT_IN_KENT
    assert facts.residency(Address("ME1 1AA"))[0] is Residency.NEEDS_EVIDENCE
    assert facts.residency(Address("not a postcode"))[0] is Residency.UNKNOWN


def test_a_uprn_seen_for_the_same_address_goes_on_the_record(app: Flask) -> None:
    with in_app(app):
        resident = create_resident()
        facts.record_fact(
            resident.id,
            FactName.ADDRESS,
            Address("ME14 1XQ", "200003717012"),
            evidence_type="council-tax-bill",
            evidence_last4="1234",
            by=STAFF,
        )
        db_session.refresh(resident)
        assert resident.uprn == "200003717012"


def test_migration_backfills_facts_for_existing_residents(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'backfill.db'}"
    migrate.upgrade(url, "0005")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO residents (id, given_name, family_name, date_of_birth, "
                "address_line_1, town, postcode, uprn, language, alternative_formats, "
                "text_relay, status, identity_level, created_at, updated_at) VALUES "
                "('r-1', 'A', 'B', '1950-03-04', '1 Road', 'Margate', 'CT9 1AA', '123', "
                "'en', '[]', 0, 'active', 'self-declared', '2025-01-01 10:00:00', "
                "'2025-01-01 10:00:00')"
            )
        )
    migrate.upgrade(url)
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT name, value, source, level FROM resident_facts ORDER BY name")
        ).all()
    engine.dispose()
    assert [(r.name, json.loads(r.value), r.source, r.level) for r in rows] == [
        ("address", {"v": {"postcode": "CT9 1AA", "uprn": "123"}}, "self-declared", 1),
        ("date_of_birth", {"v": "1950-03-04"}, "self-declared", 1),
    ]


def test_due_uses_stored_facts_so_checked_evidence_needs_no_more_proof(
    app: Flask, cli: CliRunner
) -> None:
    with in_app(app):
        seen = create_resident(date_of_birth=date(1948, 6, 2), postcode="CT9 1AA")
        told = create_resident(date_of_birth=date(1948, 6, 2), postcode="CT9 1AA")
        for name, value, kind in (
            (FactName.DATE_OF_BIRTH, date(1948, 6, 2), "passport"),
            (FactName.ADDRESS, Address("CT9 1AA"), "council-tax-bill"),
        ):
            facts.record_fact(
                seen.id, name, value, evidence_type=kind, evidence_last4="1234", by=STAFF
            )
    result = cli.invoke(
        main,
        ["entitlements", "due", "--on", "2026-11-30", "--service", "bus-pass-older", "--json"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    found = {row["resident"]: row for row in map(json.loads, result.output.splitlines())}
    assert found[seen.id]["evidence_needed"] == []
    assert found[told.id]["evidence_needed"] == ["address", "date_of_birth"]


def test_demo_gives_residents_facts_the_journey_reuses(app: Flask, cli: CliRunner) -> None:
    assert cli.invoke(main, ["demo"], catch_exceptions=False).exit_code == 0
    assert cli.invoke(main, ["demo"], catch_exceptions=False).exit_code == 0  # adds nothing
    with in_app(app):
        rows = db_session.execute(
            text(
                "SELECT r.email, f.name, f.level FROM resident_facts f JOIN residents r "
                "ON r.id = f.resident_id WHERE f.superseded_at IS NULL"
            )
        ).all()
        total = db_session.execute(text("SELECT count(*) FROM resident_facts")).scalar_one()
    current = {(r.email, r.name): r.level for r in rows}
    assert current[("ada.lovelace@example.com", "date_of_birth")] == 2
    assert current[("sam.patel@example.com", "full_time_education")] == 1
    assert current[("grace.hopper@example.com", "qualifying_award")] == 3
    assert total == len(rows) + 6  # the 3 residents' self-declared facts, superseded once


def test_two_applications_at_once_grant_only_once(app: Flask, monkeypatch, ledger_events) -> None:
    """The second application passed its first "already held?" check before the first
    committed; the check again under the ledger's lock stops a second grant."""
    import pytest

    from idservice.services import add_service

    with in_app(app):
        resident = create_resident()
        applicant = add_service.Applicant.resident(resident.id)
        add_service.apply(applicant, "library", {}, date.today())
        real = add_service.held_services
        first = [True]

        def held_later(resident_id: str) -> dict[str, add_service.Held]:
            if first.pop() if first else False:
                return {}  # the first look sees nothing held, as if it ran earlier
            return real(resident_id)

        monkeypatch.setattr(add_service, "held_services", held_later)
        with pytest.raises(add_service.ApplicationProblem, match="has just been added"):
            add_service.apply(applicant, "library", {}, date.today())
    assert [e.service for _, e in ledger_events()] == ["library"]
