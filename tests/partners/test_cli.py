"""The partner, events, life-events and erase commands."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import date

import pytest
from click.testing import CliRunner
from flask import Flask

from idservice.cli import main
from idservice.config import Settings
from idservice.db import db_session, session_factory
from idservice.models.partners import PartnerEvent
from idservice.models.residents import Resident
from tests.accounts.conftest import in_app
from tests.partners.conftest import grant, ledger_kinds, outbox_rows, states


@pytest.fixture
def cli(app: Flask, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    for name, value in {
        "KENTCARD_DATABASE_URL": settings.database_url,
        "KENTCARD_SECRET_KEY": settings.secret_key,
        "KENTCARD_INSTANCE_PATH": str(settings.instance_path),
        "KENTCARD_ISSUER": settings.issuer,
    }.items():
        monkeypatch.setenv(name, value)
    bind = session_factory.kw.get("bind")
    yield CliRunner()
    db_session.remove()
    session_factory.configure(bind=bind)


def _create(cli: CliRunner, *extra: str) -> object:
    return cli.invoke(
        main,
        ["clients", "create", "--name", "Kent Buses", "--partner", "--json", *extra],
        catch_exceptions=False,
    )


def test_register_a_partner_with_its_webhook_and_services(cli: CliRunner) -> None:
    result = _create(
        cli,
        "--contact-email",
        "Events@Buses.example",
        "--webhook-url",
        "https://buses.example/secevents",
        "--service",
        "bus-pass-older",
        "--service",
        "bus-pass-disabled",
    )
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    data = json.loads(result.output)  # type: ignore[attr-defined]
    assert data["grant_types"] == ["client_credentials"]
    assert "client_secret" in data
    partner = data["partner"]
    assert partner["webhook_url"] == "https://buses.example/secevents"
    assert partner["contact_email"] == "Events@buses.example"
    assert partner["services"] == ["bus-pass-older", "bus-pass-disabled"]
    assert "death" in partner["events"]
    # Least privilege: it may check the services it subscribes to, and nothing else.
    assert data["scope"].split() == [
        "entitlements:bus-pass-older:check",
        "entitlements:bus-pass-disabled:check",
    ]

    listed = cli.invoke(main, ["partners", "list", "--json"], catch_exceptions=False)
    assert json.loads(listed.output)[0]["client_id"] == data["client_id"]
    changed = cli.invoke(
        main,
        # "--": a generated client id may start with "-".
        ["partners", "update", "--event", "death", "--inactive", "--", data["client_id"]],
        catch_exceptions=False,
    )
    assert changed.exit_code == 0, changed.output
    assert "events" in changed.output and "active" in changed.output
    listed = json.loads(cli.invoke(main, ["partners", "list", "--json"]).output)
    assert (listed[0]["events"], listed[0]["active"]) == (["death"], False)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--contact-email", "a@b.example", "--webhook-url", "http://buses.example/e"], "https"),
        (["--contact-email", "a@b.example", "--webhook-url", "ftp://x.example/"], "https"),
        (["--contact-email", "not an email"], "not a valid email"),
        (["--contact-email", "a@b.example", "--service", "jetpacks"], "Unknown service"),
        (["--contact-email", "a@b.example", "--event", "birthday"], "Unknown event"),
        ([], "--contact-email"),
    ],
)
def test_bad_partner_details_are_refused_and_nothing_is_saved(
    cli: CliRunner, extra: list[str], message: str
) -> None:
    result = _create(cli, *extra)
    assert result.exit_code == 2  # type: ignore[attr-defined]
    assert message in result.output  # type: ignore[attr-defined]
    listed = cli.invoke(main, ["clients", "list", "--json"], catch_exceptions=False)
    assert json.loads(listed.output) == []


def test_http_webhook_on_this_machine_is_allowed_in_development(cli: CliRunner) -> None:
    result = _create(
        cli, "--contact-email", "a@b.example", "--webhook-url", "http://127.0.0.1:9999/events"
    )
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]


def test_a_registrar_feed_is_applied_row_by_row(
    app: Flask,
    cli: CliRunner,
    make_resident: Callable[..., Resident],
    tmp_path: object,
) -> None:
    dead = make_resident(given_name="Grace", family_name="Hopper", postcode="CT1 1AA")
    mover = make_resident()
    grant(app, dead.id, "bus-pass-older")
    grant(app, mover.id, "bus-pass-older")
    rows = [
        {
            "kind": "death",
            "date": date.today().isoformat(),
            "reference": "DE-77",
            "given_name": "grace",
            "family_name": "HOPPER",
            "date_of_birth": "1956-12-10",
            "postcode": "ct11aa",
        },
        {"kind": "moved-out-of-kent", "date": date.today().isoformat(), "resident_id": mover.id},
        {
            "kind": "death",
            "date": "2026-01-01",
            "given_name": "No",
            "family_name": "One",
            "date_of_birth": "1950-01-01",
            "postcode": "ME1 1AA",
        },
        {"kind": "birth", "date": "2026-01-01", "resident_id": mover.id},
    ]
    feed = tmp_path / "feed.jsonl"  # type: ignore[operator]
    feed.write_text("\n".join(json.dumps(r) for r in rows) + "\nnot json\n")
    result = cli.invoke(main, ["life-events", "import", str(feed)])
    assert result.exit_code == 1
    assert "2 applied, 3 refused" in result.output
    assert "no record matches" in result.output and "kind: Kind must be one of" in result.output
    assert states(app, dead.id)["bus-pass-older"][0] == "revoked"
    assert states(app, mover.id)["bus-pass-older"][0] == "revoked"
    with in_app(app):
        stored = db_session.get(Resident, dead.id)
        assert stored is not None and stored.status == "deceased"
    # The same feed again: the death is already recorded, nothing is written twice.
    again = cli.invoke(main, ["life-events", "import", str(feed)])
    assert "already recorded" in again.output
    assert ledger_kinds(app, dead.id).count(("life-event", "death")) == 1
    assert outbox_rows(app) == []  # no partners registered: nobody to tell


def test_staff_erase_a_record_from_the_command_line(
    app: Flask, cli: CliRunner, make_resident: Callable[..., Resident]
) -> None:
    resident = make_resident()
    result = cli.invoke(
        main, ["residents", "erase", resident.id, "--reason", "letter ref 12", "--yes"]
    )
    assert result.exit_code == 0, result.output
    with in_app(app):
        stored = db_session.get(Resident, resident.id)
        assert stored is not None and stored.status == "erased" and stored.family_name == ""
    missing = cli.invoke(main, ["residents", "erase", "nobody-at-all", "--reason", "x", "--yes"])
    assert missing.exit_code == 2 and "No resident" in missing.output


def test_dead_events_can_be_queued_again(
    app: Flask, cli: CliRunner, make_resident: Callable[..., Resident]
) -> None:
    created = _create(
        cli,
        "--contact-email",
        "a@b.example",
        "--webhook-url",
        "https://bus.example/e",
        "--service",
        "bus-pass-older",
    )
    client_id = json.loads(created.output)["client_id"]  # type: ignore[attr-defined]
    resident = make_resident()
    grant(app, resident.id, "bus-pass-older")
    from idservice.services import life_events

    with in_app(app):
        life_events.record_death(
            life_events.Notifier("registrar", "feed"), resident.id, date.today()
        )
        db_session.execute(PartnerEvent.__table__.update().values(status="dead", attempts=12))  # type: ignore[attr-defined]
        db_session.commit()
    result = cli.invoke(
        main, ["events", "requeue", f"--partner={client_id}"], catch_exceptions=False
    )
    assert "2 events queued again" in result.output
    assert {(r.status, r.attempts) for r in outbox_rows(app)} == {("pending", 0)}
    counts = cli.invoke(main, ["events", "list", "--json"], catch_exceptions=False)
    assert json.loads(counts.output) == {"pending": 2, "delivered": 0, "dead": 0}
