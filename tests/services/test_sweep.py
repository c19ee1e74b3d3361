"""The daily sweep: expiry, renewal invitations, offers on the day, idempotence, dry runs,
catching up missed days. On SQLite and PostgreSQL; the crash test is test_sweep_crash.py."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

from click.testing import CliRunner
from flask import Flask

from entitlements.dates import academic_year_start
from entitlements.ledger import store
from entitlements.ledger.verify import verify
from idservice.cli import main
from idservice.models.notices import OFFER_OPEN
from idservice.models.residents import Resident
from idservice.models.sweep import SWEEP_DONE
from tests.partners.conftest import make_partner
from tests.services.sweep_helpers import (
    bus_pass_birthday,
    engine_of,
    event_kinds,
    everything,
    grant,
    notices_of,
    offers_of,
    partner_events,
    run,
    states,
    sweep_runs,
)

__all__ = ["make_partner"]
MakeResident = Callable[..., Resident]


def _open(app: Flask, resident_id: str) -> dict[str, date]:
    return {o.service: o.offered_on for o in offers_of(app, resident_id) if o.status == OFFER_OPEN}


def test_state_pension_age_is_offered_on_the_day_not_the_day_before(
    app: Flask, make_resident: MakeResident
) -> None:
    born, day = bus_pass_birthday()
    resident = make_resident(date_of_birth=born)
    assert "bus-pass-older" not in _open(app, resident.id)  # not yet, when registered

    before = run(app, day - timedelta(days=1))
    assert "bus-pass-older" not in _open(app, resident.id)
    assert before.offered == {}

    report = run(app, day)
    assert _open(app, resident.id)["bus-pass-older"] == day
    assert report.offered["bus-pass-older"] == 1
    assert report.residents_decided == 1
    offered = notices_of(app, "services-offered")
    assert [n.resident_id for n in offered][-1] == resident.id
    names = [s["name"] for s in offered[-1].context["services"]]
    assert any("Older person's bus pass" in name for name in names)


def test_a_missed_day_is_caught_up(app: Flask, make_resident: MakeResident) -> None:
    born, day = bus_pass_birthday()
    resident = make_resident(date_of_birth=born)
    run(app, day - timedelta(days=1))
    # No sweep on the day itself: the next one looks back to it.
    report = run(app, day + timedelta(days=1))
    assert report.looked_back_to == day
    assert _open(app, resident.id)["bus-pass-older"] == day + timedelta(days=1)
    assert [r.looked_back_to for r in sweep_runs(app)] == [day - timedelta(days=1), day]


def test_travel_saver_ends_on_31_august(
    app: Flask, make_resident: MakeResident, make_partner: Callable[..., object]
) -> None:
    year = academic_year_start(date.today()) + 1
    child = make_resident(date_of_birth=date(year - 13, 1, 15), given_name="Sam")
    grant(app, child.id, "kent-travel-saver", date(year - 1, 9, 1), date(year, 8, 31))
    make_partner("https://bus.example/events", services=["kent-travel-saver"])

    last_day = run(app, date(year, 8, 31))
    assert last_day.expired == {}
    assert states(app)[(child.id, "kent-travel-saver")] == ("active", date(year, 8, 31))

    report = run(app, date(year, 9, 1))
    assert report.expired == {"kent-travel-saver": 1}
    assert states(app)[(child.id, "kent-travel-saver")] == ("expired", date(year, 8, 31))
    assert ("expire", child.id, "kent-travel-saver") in event_kinds(app, child.id)
    [told] = [e for e in partner_events(app) if e.event_type == "entitlement-ended"]
    assert told.payload == {
        "service": "kent-travel-saver",
        "ended_on": f"{year}-09-01",
        "reason": "expired",
    }
    [notice] = notices_of(app, "entitlement-expired")
    assert notice.resident_id == child.id
    assert notice.context["ended_on"] == f"31 August {year}"
    assert "school_year" not in str(notice.context)  # words, not machine names
    assert verify(engine_of(app), {}).ok  # the chain still verifies


def test_a_sweep_run_twice_changes_nothing_the_second_time(
    app: Flask, make_resident: MakeResident, make_partner: Callable[..., object]
) -> None:
    born, day = bus_pass_birthday()
    older = make_resident(date_of_birth=born)
    other = make_resident(given_name="Grace")
    grant(app, other.id, "partner-leisure-60-plus", day - timedelta(days=400), day - timedelta(1))
    grant(app, other.id, "bus-pass-older", day - timedelta(days=1000), day + timedelta(days=20))
    make_partner("https://leisure.example/events", services=["partner-leisure-60-plus"])

    first = run(app, day)
    assert first.expired and first.offered and first.renewal_invitations
    after_first = everything(app, but=("sweep_runs", "audit_records"))
    second = run(app, day)
    assert all(total == 0 for total in second.as_dict()["totals"].values())
    assert everything(app, but=("sweep_runs", "audit_records")) == after_first
    assert _open(app, older.id)["bus-pass-older"] == day
    [done] = sweep_runs(app)
    assert (done.status, done.runs) == (SWEEP_DONE, 2)


def test_renewal_invitation_is_queued_days_ahead_exactly_once(
    app: Flask, make_resident: MakeResident
) -> None:
    resident = make_resident()
    ends = date.today() + timedelta(days=400)
    grant(app, resident.id, "bus-pass-older", ends - timedelta(days=5 * 365), ends)

    run(app, ends - timedelta(days=43))
    assert notices_of(app, "renewal-due") == []
    report = run(app, ends - timedelta(days=42))
    assert report.renewal_invitations == {"bus-pass-older": 1}
    run(app, ends - timedelta(days=42))
    run(app, ends - timedelta(days=41))
    [invitation] = notices_of(app, "renewal-due")
    assert invitation.resident_id == resident.id
    assert invitation.dedupe_key == f"renewal:{resident.id}:bus-pass-older:{ends.isoformat()}"
    assert "proof of" not in invitation.context["proof"]  # words of the evidence accepted
    assert "Council Tax bill" in invitation.context["proof"]  # residency is checked again


def test_how_many_days_ahead_is_a_setting(app: Flask, make_resident: MakeResident) -> None:
    resident = make_resident()
    ends = date.today() + timedelta(days=400)
    grant(app, resident.id, "bus-pass-older", ends - timedelta(days=5 * 365), ends)
    run(app, ends - timedelta(days=11), invite_days=10)
    assert notices_of(app, "renewal-due") == []
    run(app, ends - timedelta(days=10), invite_days=10)
    assert len(notices_of(app, "renewal-due")) == 1


def test_the_catalogue_can_say_how_many_days_ahead(app: Flask, make_resident: MakeResident) -> None:
    resident = make_resident()
    ends = date.today() + timedelta(days=400)
    grant(app, resident.id, "blue-badge", ends - timedelta(days=3 * 365), ends)
    run(app, ends - timedelta(days=85))
    assert notices_of(app, "renewal-due") == []
    run(app, ends - timedelta(days=84))  # blue-badge: invite_days_before = 84
    assert len(notices_of(app, "renewal-due")) == 1


def test_library_membership_is_paused_when_details_are_not_confirmed(
    app: Flask, make_resident: MakeResident
) -> None:
    resident = make_resident()
    due = date.today() + timedelta(days=100)
    grant(app, resident.id, "library", due - timedelta(days=3 * 365), due)
    run(app, due - timedelta(days=30))
    [invitation] = notices_of(app, "renewal-due")
    assert invitation.context["confirm_details"] is True
    run(app, due)
    assert states(app)[(resident.id, "library")][0] == "active"
    report = run(app, due + timedelta(days=1))
    assert report.paused == {"library": 1} and report.expired == {}
    assert states(app)[(resident.id, "library")][0] == "suspended"
    assert len(notices_of(app, "entitlement-paused")) == 1
    # Paused, not ended: later sweeps leave it alone.
    again = run(app, due + timedelta(days=400))
    assert again.expired == {} and again.paused == {}


def test_dry_run_writes_nothing_and_counts_what_a_run_would_do(
    app: Flask, make_resident: MakeResident
) -> None:
    born, day = bus_pass_birthday()
    make_resident(date_of_birth=born)
    other = make_resident(given_name="Grace")
    grant(app, other.id, "partner-leisure-60-plus", day - timedelta(days=400), day - timedelta(1))
    grant(app, other.id, "bus-pass-older", day - timedelta(days=1000), day + timedelta(days=20))
    before = everything(app)

    dry = run(app, day, dry_run=True)
    assert everything(app) == before
    assert dry.dry_run and dry.expired and dry.offered and dry.renewal_invitations

    real = run(app, day)
    assert {k: v for k, v in real.as_dict().items() if k != "dry_run"} == {
        k: v for k, v in dry.as_dict().items() if k != "dry_run"
    }


def test_suspended_entitlements_expire_too(app: Flask, make_resident: MakeResident) -> None:
    resident = make_resident()
    grant(app, resident.id, "bus-pass-older", date(2020, 1, 1), date(2024, 12, 31))
    from entitlements.ledger.events import Channel, EventKind, LedgerEvent
    from idservice.models.base import utcnow

    suspend = LedgerEvent(
        EventKind.SUSPEND, resident.id, "bus-pass-older", "system", Channel.SYSTEM, "test", utcnow()
    )
    store.append(engine_of(app), [suspend])
    report = run(app, date(2025, 1, 1))
    assert report.expired == {"bus-pass-older": 1}
    assert states(app)[(resident.id, "bus-pass-older")][0] == "expired"


def test_the_command(app: Flask, make_resident: MakeResident, monkeypatch: object) -> None:
    resident = make_resident()
    grant(app, resident.id, "partner-leisure-60-plus", date(2025, 1, 1), date(2025, 12, 31))
    runner = CliRunner()
    env = {"KENTCARD_DATABASE_URL": app.config["KENTCARD"].database_url}
    env["KENTCARD_INSTANCE_PATH"] = str(app.config["KENTCARD"].instance_path)
    dry = runner.invoke(main, ["entitlements", "sweep", "--on", "2026-01-01", "--dry-run"], env=env)
    assert dry.exit_code == 0, dry.output
    assert "Dry run: nothing written" in dry.output
    assert "would expire: 1 (partner-leisure-60-plus 1)" in dry.output
    assert states(app)[(resident.id, "partner-leisure-60-plus")][0] == "active"
    done = runner.invoke(main, ["entitlements", "sweep", "--on", "2026-01-01", "--json"], env=env)
    assert done.exit_code == 0, done.output
    import json

    summary = json.loads(done.output)
    assert summary["actions"]["expired"] == {"partner-leisure-60-plus": 1}
    assert summary["dry_run"] is False and summary["on"] == "2026-01-01"
    bad = runner.invoke(main, ["entitlements", "sweep", "--on", "1 Jan"], env=env)
    assert bad.exit_code == 2 and "--on" in bad.output


def test_a_grace_period_announced_before_expires_without_telling_anyone_again(
    app: Flask, make_resident: MakeResident, make_partner: Callable[..., object]
) -> None:
    from entitlements.ledger.events import Channel, EventKind, LedgerEvent
    from idservice.models.base import utcnow

    resident = make_resident()
    make_partner("https://bus.example/events", services=["bus-pass-older"])
    grant(app, resident.id, "bus-pass-older", date(2024, 1, 1), date(2028, 12, 31))
    # What the re-evaluation writes after a move within England (it told everyone then).
    ending = LedgerEvent(
        EventKind.RENEW,
        resident.id,
        "bus-pass-older",
        "resident",
        Channel.WEB,
        "ending: not eligible: lives-in-kent; grace 90 days",
        utcnow(),
        valid_from=date(2024, 1, 1),
        valid_until=date(2026, 3, 31),
    )
    store.append(engine_of(app), [ending])
    report = run(app, date(2026, 4, 1))
    assert report.expired == {"bus-pass-older": 1}
    assert states(app)[(resident.id, "bus-pass-older")][0] == "expired"
    assert notices_of(app, "entitlement-expired") == []
    assert [e for e in partner_events(app) if e.event_type == "entitlement-ended"] == []
