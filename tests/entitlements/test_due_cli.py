"""``kentcard entitlements due`` on the suite's database (SQLite or PostgreSQL)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from typing import Any

from click.testing import CliRunner
from flask import Flask
from sqlalchemy import Engine

from entitlements.ledger.events import EventKind, LedgerEvent
from entitlements.ledger.store import append
from idservice.cli import main
from idservice.db import db_session
from idservice.models.residents import RESIDENT_CLOSED
from idservice.services.residents import dao_get_resident_by_id
from tests.entitlements.ledger_helpers import event
from tests.factories import create_resident


def due(cli: CliRunner, *args: str) -> list[dict[str, Any]]:
    result = cli.invoke(main, ["entitlements", "due", *args, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines()]


def held_by(resident: str, kind: EventKind) -> LedgerEvent:
    return replace(event(1, kind, "bus-pass-older"), resident=resident)


def _resident(dob: date, postcode: str = "CT9 1AA", **extra: Any) -> str:
    return create_resident(date_of_birth=dob, postcode=postcode, **extra).id


def test_lists_residents_reaching_bus_pass_age_who_do_not_hold_it(
    app: Flask, cli: CliRunner, engine: Engine
) -> None:
    with app.app_context():
        reaching = _resident(date(1960, 7, 31))  # 66 years 4 months: 30 November 2026
        long_past = _resident(date(1948, 6, 2))  # 60 on 2 June 2008
        next_day = _resident(date(1960, 8, 1))  # the same band: 1 December 2026
        too_young = _resident(date(1960, 8, 6))  # the next band: 66 years 5 months
        in_medway = _resident(date(1950, 1, 1), "ME4 4AA")
        holder = _resident(date(1950, 1, 1))
        closed = _resident(date(1950, 1, 1))
        dao_get_resident_by_id(closed).status = RESIDENT_CLOSED
        db_session.commit()
    append(engine, [held_by(holder, EventKind.GRANT)])
    rows = due(cli, "--on", "2026-11-30", "--service", "bus-pass-older")
    found = {row["resident"]: row for row in rows}
    assert set(found) == {long_past, reaching}
    assert found[reaching]["eligible_from"] == "2026-11-30"
    assert found[long_past]["eligible_from"] == "2008-06-02"
    assert found[reaching]["evidence_needed"] == ["address", "date_of_birth"]
    assert rows[0]["resident"] == long_past  # oldest first
    assert too_young not in found and in_medway not in found
    on_1_december = due(cli, "--on", "2026-12-01", "--service", "bus-pass-older")
    assert {row["resident"] for row in on_1_december} == {long_past, reaching, next_day}
    day_before = due(cli, "--on", "2026-11-29", "--service", "bus-pass-older")
    assert {row["resident"] for row in day_before} == {long_past}


def test_a_revoked_pass_can_be_offered_again(app: Flask, cli: CliRunner, engine: Engine) -> None:
    with app.app_context():
        resident = _resident(date(1950, 1, 1))
    append(engine, [held_by(resident, EventKind.GRANT)])
    assert due(cli, "--on", "2026-01-01", "--service", "bus-pass-older") == []
    append(engine, [held_by(resident, EventKind.REVOKE)])
    assert [r["resident"] for r in due(cli, "--on", "2026-01-01", "--service", "bus-pass-older")]


def test_every_record_service_by_default_in_words(app: Flask, cli: CliRunner) -> None:
    with app.app_context():
        resident = _resident(date(1950, 1, 1))
    result = cli.invoke(main, ["entitlements", "due", "--on", "2026-01-01"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith(resident)]
    services = {line.split()[1] for line in lines}
    assert {"library", "bus-pass-older", "proof-of-age-18", "partner-leisure-60-plus"} <= services
    assert "partner-young-person-leisure" not in services
    assert "proof needed: address, date_of_birth" in result.output


def test_services_the_record_cannot_decide_are_refused(cli: CliRunner) -> None:
    result = cli.invoke(
        main, ["entitlements", "due", "--on", "2026-01-01", "--service", "blue-badge"]
    )
    assert result.exit_code == 2
    assert "needs facts a resident record does not hold" in result.output
    result = cli.invoke(main, ["entitlements", "due", "--on", "2026-02-30"])
    assert result.exit_code == 2 and "not a real date" in result.output
