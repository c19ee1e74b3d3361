"""``kentcard snapshots build``: the register becomes signed lists, versions and deltas."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import func, select

from cardio.offline import DEFAULT_POLICY, OfflinePolicy, decide_offline
from cardio.snapshot import SnapshotKeyring, SnapshotRefused, SnapshotStore, verify
from cardio.snapshot_format import decode, fingerprint
from idservice.db import db_session
from idservice.models.snapshots import OfflineSnapshot, OfflineSnapshotDelta
from tests.accounts.conftest import in_app
from tests.snapshots.conftest import NOW, IssueCard, build, report

POLICY = OfflinePolicy.from_json(DEFAULT_POLICY)


def decide(store: SnapshotStore, public_key: bytes | None, mode: str = "transport") -> str:
    assert public_key is not None
    decision = decide_offline(
        store.current, fingerprint(public_key), mode, NOW.date(), NOW, POLICY.for_mode(mode)
    )
    return decision.code


def test_a_full_list_holds_entitled_cards_and_nothing_personal(
    app: Flask, issue_card: IssueCard, keyring: SnapshotKeyring, tmp_path: Path
) -> None:
    bus, _ = issue_card("bus-pass-older", "library")
    reader_only, _ = issue_card("library")
    built = {one.mode: one for one in build(app)}
    transport = verify(built["transport"].full, keyring, "transport")
    assert (transport.header.kind, transport.header.records) == ("full", 1)
    assert [s.code for s in transport.header.services][:2] == [
        "bus-pass-older",
        "bus-pass-disabled",
    ]
    library = verify(built["library"].full, keyring, "library")
    assert library.header.records == 2
    for number in (bus.card_number, reader_only.card_number):
        assert number.encode() not in built["library"].full  # no card numbers, no names
    store = SnapshotStore(tmp_path, "transport", keyring)
    store.accept(built["transport"].full)
    assert decide(store, bus.public_key) == "entitled"
    assert decide(store, reader_only.public_key) == "not_entitled"


def test_a_hotlisted_card_is_in_the_next_delta_and_a_reader_applies_it(
    app: Flask, issue_card: IssueCard, keyring: SnapshotKeyring, tmp_path: Path
) -> None:
    lost, _ = issue_card("bus-pass-older")
    kept, _ = issue_card("bus-pass-older")
    (first,) = build(app, "transport")
    store = SnapshotStore(tmp_path, "transport", keyring)
    store.accept(first.full)
    report(app, lost, "lost")
    (second,) = build(app, "transport", now=NOW + timedelta(hours=1))
    assert second.version > first.version and second.base_version == first.version
    assert second.changed == 1 and second.delta is not None
    delta = verify(second.delta, keyring, "transport")
    assert (delta.header.kind, delta.header.base_version, delta.header.records) == (
        "delta",
        first.version,
        1,
    )
    accepted = store.accept(second.delta)
    assert accepted.held.version == second.version
    assert decide(store, lost.public_key) == "hotlisted"
    assert decide(store, kept.public_key) == "entitled"
    assert store.current is not None
    assert store.current.records == decode(second.full).records  # the same as the full list


def test_versions_only_go_up_and_older_fulls_are_dropped(app: Flask, issue_card: IssueCard) -> None:
    issue_card("library")
    versions = [build(app, "library", now=NOW)[0].version for _ in range(3)]
    assert versions == sorted(set(versions)) and versions[0] == int(NOW.timestamp())
    clock_gone_back = build(app, "library", now=NOW - timedelta(days=1))[0]
    assert clock_gone_back.version == versions[-1] + 1
    assert clock_gone_back.created_at == NOW  # never made before the list before it
    with in_app(app):
        fulls = db_session.scalar(select(func.count()).where(OfflineSnapshot.full.is_not(None)))
        deltas = db_session.scalars(select(OfflineSnapshotDelta.base_version)).all()
    assert fulls == 1
    assert sorted(deltas) == [*versions, clock_gone_back.version]


def test_a_reader_far_behind_gets_one_composed_delta(
    app: Flask, issue_card: IssueCard, keyring: SnapshotKeyring, tmp_path: Path
) -> None:
    cards = [issue_card("bus-pass-older")[0] for _ in range(3)]
    first = build(app, "transport")[0]
    store = SnapshotStore(tmp_path, "transport", keyring)
    store.accept(first.full)
    for hour, card in enumerate(cards[:2], start=1):
        report(app, card, "stolen")
        build(app, "transport", now=NOW + timedelta(hours=hour))
    with in_app(app):
        body = db_session.scalar(
            select(OfflineSnapshotDelta.body).where(
                OfflineSnapshotDelta.base_version == first.version
            )
        )
    assert body is not None
    store.accept(body)
    assert [decide(store, c.public_key) for c in cards] == ["hotlisted", "hotlisted", "entitled"]


def test_keep_limits_how_far_back_deltas_go(app: Flask, issue_card: IssueCard) -> None:
    issue_card("library")
    built = [build(app, "library", now=NOW + timedelta(hours=h), keep=2)[0] for h in range(4)]
    with in_app(app):
        bases = sorted(db_session.scalars(select(OfflineSnapshotDelta.base_version)).all())
        changes = db_session.scalar(
            select(func.count()).where(OfflineSnapshot.changes.is_not(None))
        )
    assert bases == [built[1].version, built[2].version, built[3].version]
    assert changes == 2


def test_a_list_signed_by_another_issuer_is_refused(
    app: Flask, issue_card: IssueCard, tmp_path: Path
) -> None:
    from tests.cardio.offline_lists import ListSigner

    issue_card("library")
    (built,) = build(app, "library")
    stranger = SnapshotKeyring.from_json(ListSigner().public_export())
    with pytest.raises(SnapshotRefused) as refused:
        SnapshotStore(tmp_path, "library", stranger).accept(built.full)
    assert refused.value.code == "unknown_key"


def test_the_command_builds_every_mode_and_writes_the_files(
    app: Flask, issue_card: IssueCard, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from idservice.cli import main

    issue_card("bus-pass-older")
    monkeypatch.setattr("idservice.cli.app.create_app", lambda: app)
    runner = CliRunner()
    first = runner.invoke(main, ["snapshots", "build", "--out", str(tmp_path)])
    assert first.exit_code == 0, first.output
    assert "transport: version" in first.output and "library: version" in first.output
    second = runner.invoke(
        main, ["snapshots", "build", "--mode", "transport", "--out", str(tmp_path)]
    )
    assert second.exit_code == 0, second.output
    names = sorted(p.name.split(".", 1)[1] for p in tmp_path.iterdir())
    assert names == ["delta.kcsnap", "full.kcsnap", "full.kcsnap", "full.kcsnap"]
