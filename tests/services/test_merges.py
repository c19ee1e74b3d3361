"""Merging two records of one person and undoing it: everything follows, all at once, and
the ledger still verifies and rebuilds to the same state (run through ``kentcard``)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import select

from entitlements.ledger import store
from idservice.cli import main
from idservice.db import db_session
from idservice.models import (
    Card,
    Consent,
    IdentityEvidence,
    PartnerEvent,
    ResidentMerge,
    ServiceRequest,
)
from idservice.services import activity, merges, unmerge
from idservice.services.residents import NotFound
from tests.accounts.conftest import in_app
from tests.factories import create_resident, sign_in_client
from tests.services import merge_world
from tests.services.merge_world import BUS_PASS_UNTIL, World, build, states

LIBRARY_KEPT = date(2027, 6, 30)


def _ledger_checks(cli: CliRunner, app: Flask) -> None:
    """``kentcard ledger sign`` + ``verify`` pass, and ``rebuild`` leaves the state the
    appends left (every row equal, not only the count)."""
    assert cli.invoke(main, ["ledger", "sign"]).exit_code == 0
    verified = cli.invoke(main, ["ledger", "verify", "--json"])
    assert verified.exit_code == 0, verified.output
    assert json.loads(verified.output)["ok"] is True
    engine = app.extensions["kentcard_engine"]
    incremental = store.states(engine)
    rebuilt = cli.invoke(main, ["ledger", "rebuild"])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert store.states(engine) == incremental


def test_everything_follows_the_record_kept_and_the_ledger_still_verifies(
    app: Flask, cli: CliRunner
) -> None:
    world = build(app)
    kept_facts = merge_world.current_facts(app, world.kept)
    with in_app(app):
        done = merges.merge(world.actor(), world.kept, world.other)
        merge_id = done.id

    # Entitlements: moved with their dates; the longer library membership kept; the
    # shorter Blue Badge of the merged record ended, the record kept's unchanged.
    assert states(app, world.kept) == {
        "bus-pass-older": ("active", date(2024, 1, 1), BUS_PASS_UNTIL),
        "library": ("active", date(2024, 1, 1), None),
        "blue-badge": ("active", date(2024, 1, 1), date(2030, 1, 31)),
    }
    assert {status for status, *_ in states(app, world.other).values()} == {"revoked"}
    # Facts: the checked date of birth supersedes the declared one; the disability moves;
    # the address the record kept has already stays.
    now_facts = merge_world.current_facts(app, world.kept)
    assert now_facts["date_of_birth"] == world.fact_ids["date_of_birth"]
    assert now_facts["disability"] == world.fact_ids["disability"]
    assert now_facts["address"] == kept_facts["address"]
    assert "address" in merge_world.current_facts(app, world.other)
    # The card keeps working, now for the record kept: a tap finds its entitlements.
    card = merge_world.card(app, world.card_id)
    assert (card.resident_id, card.status) == (world.kept, "active")
    assert merge_world.owner(app, ServiceRequest, world.request_id) == world.kept
    assert merge_world.owner(app, Consent, world.consent_id) == world.kept
    assert merge_world.owner(app, IdentityEvidence, world.evidence_id) == world.kept
    assert merge_world.subject_owner(app, world.other) == world.kept
    # The merged record: status, pointer, nobody signed in.
    merged = merge_world.resident(app, world.other)
    assert (merged.status, merged.merged_into_id) == ("merged", world.kept)
    assert merge_world.sign_in_state(app, world) == (False, False)
    # What moved is kept by id, with the ledger's sequence numbers.
    with in_app(app):
        row = db_session.get(ResidentMerge, merge_id)
        assert row is not None and row.ledger_seqs and row.undone_at is None
        assert row.moved["cards"] == [world.card_id]
        assert [f["id"] for f in row.moved["facts"]] == sorted(world.fact_ids.values())
        assert {e["service"]: e["action"] for e in row.moved["entitlements"]} == {
            "blue-badge": "drop",
            "bus-pass-older": "move",
            "library": "extend",
        }
    _ledger_checks(cli, app)


def test_the_ledger_records_the_merge_with_pseudonymous_ids(app: Flask) -> None:
    world = build(app)
    with in_app(app):
        merge_id = merges.merge(world.actor(), world.kept, world.other).id
        rows = db_session.execute(
            select(store.EVENTS.c.body).where(store.EVENTS.c.seq > 5).order_by(store.EVENTS.c.seq)
        ).all()
    bodies = [json.loads(r.body) for r in rows]
    markers = [b for b in bodies if b["kind"] == "record-merged"]
    assert [(m["resident"], m["service"]) for m in markers] == [
        (world.other, "merged-into"),
        (world.kept, "merged-from"),
    ]
    assert markers[0]["evidence"] == [f"merge:{merge_id}", f"resident:{world.kept}"]
    grant = next(b for b in bodies if b["kind"] == "grant")
    assert (grant["resident"], grant["service"], grant["valid_until"]) == (
        world.kept,
        "bus-pass-older",
        BUS_PASS_UNTIL.isoformat(),
    )
    assert grant["evidence"] == [f"merge:{merge_id}"]
    text = json.dumps(bodies)
    for personal in ("Ada", "Lovelace", "ME14", "1956", "ada@example.com"):
        assert personal not in text


def test_undo_puts_back_exactly_what_moved(app: Flask, cli: CliRunner) -> None:
    world = build(app)
    before_kept, before_other = states(app, world.kept), states(app, world.other)
    facts_kept = merge_world.current_facts(app, world.kept)
    facts_other = merge_world.current_facts(app, world.other)
    levels = (
        merge_world.resident(app, world.kept).identity_level,
        merge_world.resident(app, world.other).identity_level,
    )
    with in_app(app):
        merge_id = merges.merge(world.actor(), world.kept, world.other).id
    with in_app(app):
        undone = unmerge.unmerge(world.actor("A mother and daughter"), merge_id)
        assert undone.undone_at is not None and undone.undo_reason == "A mother and daughter"
        assert undone.undo["services_changed"] == [] and undone.undo["services_ended"] == []

    # Statuses and dates as before: the merged record's entitlements granted again, the
    # bus pass the record kept had for a while now revoked on it (the ledger's history).
    assert states(app, world.other) == before_other
    assert states(app, world.kept) == {
        **before_kept,
        "bus-pass-older": ("revoked", date(2024, 1, 1), BUS_PASS_UNTIL),
    }
    assert merge_world.current_facts(app, world.kept) == facts_kept
    assert merge_world.current_facts(app, world.other) == facts_other
    assert merge_world.card(app, world.card_id).resident_id == world.other
    assert merge_world.card(app, world.card_id).status == "active"
    assert merge_world.owner(app, ServiceRequest, world.request_id) == world.other
    assert merge_world.owner(app, Consent, world.consent_id) == world.other
    assert merge_world.owner(app, IdentityEvidence, world.evidence_id) == world.other
    assert merge_world.subject_owner(app, world.other) == world.other
    other = merge_world.resident(app, world.other)
    assert (other.status, other.merged_into_id) == ("active", None)
    assert (merge_world.resident(app, world.kept).identity_level, other.identity_level) == levels
    _ledger_checks(cli, app)
    # Undone once: a second undo is refused and writes nothing.
    with in_app(app), pytest.raises(merges.UnmergeRefused, match="already undone"):
        unmerge.unmerge(world.actor(), merge_id)


def test_a_request_withdrawn_by_the_merge_waits_again_after_the_undo(app: Flask) -> None:
    world = build(app)
    with in_app(app):
        db_session.add(
            ServiceRequest(
                resident_id=world.kept,
                service="bus-pass-disabled",
                status="waiting",
                channel="web",
                expected_by=date.today() + timedelta(days=10),
                needs=["disability"],
            )
        )
        db_session.commit()
        merge_id = merges.merge(world.actor(), world.kept, world.other).id
        request = db_session.get(ServiceRequest, world.request_id)
        assert request is not None
        assert (request.resident_id, request.status) == (world.other, "withdrawn")
        assert "already waiting for a decision" in (request.decision_reason or "")
    with in_app(app):
        unmerge.unmerge(world.actor(), merge_id)
        request = db_session.get(ServiceRequest, world.request_id)
        assert request is not None
        assert (request.status, request.decision_reason) == ("waiting", None)


def test_two_active_cards_keep_the_survivors_and_cancel_the_other_for_good(app: Flask) -> None:
    world = build(app)
    with in_app(app):
        from idservice.cards import dao as cards_dao

        kept_card = cards_dao.dao_create_card(
            card_number=cards_dao.dao_next_card_number("982601"),
            resident_id=world.kept,
            status="active",
            expiry=date.today() + timedelta(days=700),
        ).id
        db_session.commit()
        merge_id = merges.merge(world.actor(), world.kept, world.other).id
    other_card = merge_world.card(app, world.card_id)
    assert (other_card.resident_id, other_card.status, other_card.hotlist_reason) == (
        world.other,
        "hotlisted",
        None,
    )
    assert merge_world.card(app, kept_card).status == "active"
    with in_app(app):
        done = unmerge.unmerge(world.actor(), merge_id)
        assert done.undo["cards_not_back"] == [world.card_id]
    assert merge_world.card(app, world.card_id).status == "hotlisted"


def test_what_changed_on_the_survivor_since_is_left_for_staff_to_check(
    app: Flask, cli: CliRunner
) -> None:
    world = build(app)
    with in_app(app):
        merge_id = merges.merge(world.actor(), world.kept, world.other).id
    # The bus pass is renewed on the record kept after the merge (the renewal is its own).
    merge_world._grant(app, world.kept, "bus-pass-older", date(2036, 3, 1))
    with in_app(app):
        done = unmerge.unmerge(world.actor(), merge_id)
        assert done.undo["services_changed"] == ["bus-pass-older"]
    assert states(app, world.kept)["bus-pass-older"][2] == date(2036, 3, 1)
    assert states(app, world.other)["bus-pass-older"] == (
        "active",
        date(2024, 1, 1),
        BUS_PASS_UNTIL,
    )
    _ledger_checks(cli, app)


def test_undo_is_allowed_for_the_configured_days_and_not_a_second_more(app: Flask) -> None:
    world = build(app)
    merged_at = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    with in_app(app):
        merge_id = merges.merge(world.actor(), world.kept, world.other, now=merged_at).id
    late = merged_at + timedelta(days=30, seconds=1)
    with in_app(app):
        row = db_session.get(ResidentMerge, merge_id)
        assert row is not None
        assert unmerge.undo_refusal(row, merged_at + timedelta(days=30)) is None
        refusal = unmerge.undo_refusal(row, late)
        assert refusal is not None and "more than 30 days ago" in refusal
        with pytest.raises(merges.UnmergeRefused, match="can no longer be undone"):
            unmerge.unmerge(world.actor(), merge_id, now=late)
    assert merge_world.resident(app, world.other).status == "merged"
    settings = app.config["KENTCARD"]
    settings.merge_undo_days = 31  # KENTCARD_MERGE_UNDO_DAYS
    try:
        with in_app(app):
            assert unmerge.unmerge(world.actor(), merge_id, now=late).undone_at == late
    finally:
        settings.merge_undo_days = 30
    assert merge_world.resident(app, world.other).status == "active"


@pytest.mark.parametrize(
    ("arrange", "field", "message"),
    [
        ("itself", "with", "This is the record you have open"),
        ("unknown", "with", "There is no record with this reference"),
        ("closed", "with", "This account is closed"),
        ("deceased", "with", "A death is recorded on this record"),
        ("erased", "with", "personal data was erased"),
        ("already merged", "with", "already been merged into another record"),
        ("chain", None, "was itself merged into another record"),
        ("kept closed", None, "nothing can be merged into it"),
    ],
)
def test_refusals_write_nothing(
    app: Flask,
    snapshot: Callable[[], dict[str, list[tuple[Any, ...]]]],
    arrange: str,
    field: str | None,
    message: str,
) -> None:
    world = build(app)
    kept, other = world.kept, world.other
    with in_app(app):
        third = create_resident(email=None, password=None, email_confirmed=False).id
    if arrange == "itself":
        other = kept
    elif arrange == "unknown":
        other = "2f1c1a5e-3d4b-4c8e-9f7a-0b1c2d3e4f5a"
    elif arrange in ("closed", "deceased", "erased"):
        _set_status(app, other, arrange)
    elif arrange == "already merged":
        with in_app(app):
            merges.merge(world.actor(), third, other)
    elif arrange == "chain":
        with in_app(app):
            merges.merge(world.actor(), third, kept)
    elif arrange == "kept closed":
        _set_status(app, kept, "closed")
    before = snapshot()
    ledger_before = store.states(app.extensions["kentcard_engine"])
    with in_app(app), pytest.raises(merges.MergeRefused, match=message) as refused:
        merges.merge(world.actor(), kept, other)
    assert refused.value.field == field
    assert snapshot() == before
    assert store.states(app.extensions["kentcard_engine"]) == ledger_before


def _set_status(app: Flask, resident_id: str, status: str) -> None:
    with in_app(app):
        person = db_session.get(merge_world.Resident, resident_id)
        assert person is not None
        person.status = status
        db_session.commit()


def test_an_unknown_record_kept_is_not_found(app: Flask) -> None:
    world = build(app)
    with in_app(app), pytest.raises(NotFound):
        merges.merge(world.actor(), "2f1c1a5e-3d4b-4c8e-9f7a-0b1c2d3e4f5a", world.other)


def test_a_merge_half_done_leaves_nothing_behind(
    app: Flask,
    snapshot: Callable[[], dict[str, list[tuple[Any, ...]]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The partner outbox fails after the ledger, facts and cards have moved: nothing of
    it is written (one transaction)."""
    world = build(app)
    before = snapshot()
    ledger_before = store.states(app.extensions["kentcard_engine"])

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("outbox down")

    monkeypatch.setattr(merges, "tell_partners", broken)
    with in_app(app), pytest.raises(RuntimeError):
        merges.merge(world.actor(), world.kept, world.other)
    assert snapshot() == before
    assert store.states(app.extensions["kentcard_engine"]) == ledger_before


def test_audited_on_both_records_and_told_to_the_resident_in_plain_words(app: Flask) -> None:
    world = build(app)
    with in_app(app):
        merge_id = merges.merge(world.actor(), world.kept, world.other).id
        unmerge.unmerge(world.actor("They are two different people"), merge_id)
    for resident_id, other, side in (
        (world.kept, world.other, "survivor"),
        (world.other, world.kept, "merged"),
    ):
        rows = [
            r
            for r in merge_world.audit_actions(app, resident_id)
            if r.action in ("resident.merged", "resident.unmerged")
        ]
        assert [r.action for r in rows] == ["resident.merged", "resident.unmerged"]
        assert rows[0].details["other_record"] == other and rows[0].details["side"] == side
        assert rows[0].details["merge_id"] == merge_id
        assert rows[0].reason == "Registered online and again at the Gateway"
        assert rows[0].actor_id == world.staff_id
    with in_app(app):
        items = activity.activity_for(world.kept)
    joined = next(i for i in items if i.what == "Your records were joined")
    assert joined.detail.startswith("Your records were joined by council staff on ")
    assert joined.detail.endswith(": Registered online and again at the Gateway")
    assert joined.who == "A Gateway team leader"
    undone = next(i for i in items if i.what == "A joining of your records was undone")
    assert undone.detail.endswith(": They are two different people")
    # On the page itself, signed in to the record kept.
    browser = app.test_client()
    sign_in_client(app, browser, merge_world.resident(app, world.kept))
    page = browser.get("/account/activity").get_data(as_text=True)
    assert "Your records were joined by council staff on " in page
    assert "Registered online and again at the Gateway" in page


def test_no_partner_no_event(app: Flask) -> None:
    """Without a partner that knows either record nothing is queued (partners who do are
    tested end to end in tests/partners/test_subject_merge.py)."""
    world = build(app)
    with in_app(app):
        merges.merge(world.actor(), world.kept, world.other)
        assert db_session.scalars(select(PartnerEvent)).all() == []


def test_a_merged_record_is_found_by_its_reference_only(app: Flask) -> None:
    from idservice.staff import services as staff_services
    from idservice.staff.dao import dao_get_staff_by_id

    world = build(app)
    with in_app(app):
        merges.merge(world.actor(), world.kept, world.other)
    with in_app(app):
        staff = dao_get_staff_by_id(world.staff_id)
        by_name = staff_services.search(
            staff,
            staff_services.ResidentQuery(family_name="Lovelace", date_of_birth=date(1956, 12, 10)),
        )
        assert [r.resident_id for r in by_name.results] == [world.kept]
        by_reference = staff_services.search(
            staff, staff_services.ResidentQuery(reference=world.other)
        )
        [found] = by_reference.results
        assert (found.resident_id, found.merged_into) == (world.other, world.kept)


def test_a_life_event_on_a_merged_record_is_refused(app: Flask) -> None:
    from idservice.services import life_events

    world = build(app)
    with in_app(app):
        merges.merge(world.actor(), world.kept, world.other)
    notifier = life_events.Notifier("registrar", "registrar-feed")
    with in_app(app), pytest.raises(life_events.LifeEventRefused, match="record it on that one"):
        life_events.record_death(notifier, world.other, date.today())
    assert merge_world.resident(app, world.other).status == "merged"


def test_a_merged_card_is_no_longer_on_the_merged_record(app: Flask) -> None:
    world = build(app)
    with in_app(app):
        merges.merge(world.actor(), world.kept, world.other)
        cards = db_session.scalars(select(Card).where(Card.resident_id == world.other)).all()
        assert cards == []


def test_two_merges_of_the_same_pair_at_once_one_wins(app: Flask, cli: CliRunner) -> None:
    """Staff at two desks merge the pair each their own way round at the same moment: the
    rows are locked in one order, so one merge happens and the other is refused."""
    world = build(app)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def run(kept: str, other: str) -> None:
        with in_app(app):
            barrier.wait()
            try:
                merges.merge(world.actor(), kept, other)
                outcomes.append("merged")
            except merges.MergeRefused as exc:
                outcomes.append(str(exc))

    threads = [
        threading.Thread(target=run, args=(world.kept, world.other)),
        threading.Thread(target=run, args=(world.other, world.kept)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(outcomes) == 2 and outcomes.count("merged") == 1
    [refused] = [o for o in outcomes if o != "merged"]
    assert "was itself merged into another record" in refused
    with in_app(app):
        assert len(db_session.scalars(select(ResidentMerge)).all()) == 1
    _ledger_checks(cli, app)


def test_a_registrar_feed_finds_the_record_kept_not_the_merged_one(app: Flask) -> None:
    """Both records have the same name, date of birth and postcode; once merged, a feed
    line naming that person matches the record kept alone, not "more than one record"."""
    from idservice.models import LifeEvent
    from idservice.services import life_event_feed

    world = build(app)
    with in_app(app):
        merges.merge(world.actor(), world.kept, world.other)
    line = json.dumps(
        {
            "kind": "name-changed",
            "date": (date.today() - timedelta(days=2)).isoformat(),
            "given_name": "Ada",
            "family_name": "Lovelace",
            "date_of_birth": "1956-12-10",
            "postcode": "ME14 1XQ",
            "given_name_new": "Ada",
            "family_name_new": "King",
        }
    )
    with in_app(app):
        result = life_event_feed.import_line(1, line)
        assert result.status == "applied", result.problems
        [event] = db_session.scalars(select(LifeEvent)).all()
        assert event.resident_id == world.kept


__all__ = ["World"]
