"""``kentcard reader sync`` against the service over real HTTP: queued taps uploaded in
order, a reader process killed (SIGKILL) mid-upload losing no tap and duplicating none, a
tap allowed offline for a card hotlisted since flagged, and ``kentcard readers``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import func, select

from cardio.tapqueue import QueuedTap, TapQueue, open_queue
from cardio.verify import TapEvidence
from hardware.virtual_card import VirtualKentCard
from idservice.cards import issuance
from idservice.cli import main
from idservice.config import Settings
from idservice.db import db_session, session_factory
from idservice.models import Reader, Tap
from tests.accounts.conftest import in_app
from tests.cards.conftest import grant
from tests.cards.test_issuance import issue_one
from tests.cards.test_offline_taps import register
from tests.cards.test_taps_api import tap_body
from tests.oauth.conftest import RP

KENTCARD = [sys.executable, "-m", "idservice.cli"]


def fill_queue(folder: Path, cards: list[VirtualKentCard], count: int) -> list[QueuedTap]:
    """``count`` taps decided offline over the last hours, the cards in turn."""
    queue = open_queue(folder)
    taps = []
    start = time.time() - 6 * 3600
    for i in range(count):
        body = tap_body(cards[i % len(cards)], now=start + i)
        evidence = TapEvidence(
            bytes.fromhex(body["select_answer"]),
            bytes.fromhex(body["challenge"]),
            bytes.fromhex(body["signature"]),
        )
        taps.append(
            QueuedTap.decided(evidence, "transport", "allow", "entitled", "offline snapshot")
        )
    kept = queue.extend(taps)
    queue.close()
    return kept


def sync_process(url: str, reader: RP, folder: Path, *more: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [
            *KENTCARD,
            "reader",
            "sync",
            "--online",
            url,
            "--client-id",
            reader.client_id,
            "--client-secret-stdin",
            "--config",
            str(folder),
            "--json",
            *more,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdin is not None
    process.stdin.write(reader.client_secret + "\n")
    process.stdin.close()
    process.stdin = None  # given: communicate() has nothing more to send
    return process


def recorded_ids(app: Flask, client_id: str) -> list[str]:
    """The reader's tap ids as recorded, in the order the taps happened."""
    with in_app(app):
        rows = db_session.scalars(
            select(Tap.reader_tap_id).where(Tap.reader_client_id == client_id).order_by(Tap.at)
        )
        return [r for r in rows if r is not None]


def recorded_count(app: Flask, client_id: str) -> int:
    with in_app(app):
        return int(
            db_session.scalar(
                select(func.count()).select_from(Tap).where(Tap.reader_client_id == client_id)
            )
            or 0
        )


@pytest.fixture
def cards(app: Flask, blank_card, resident_and_actor) -> list[VirtualKentCard]:
    resident_id, actor = resident_and_actor
    grant(app, resident_id, "bus-pass-older")
    card = blank_card()
    issue_one(app, actor, resident_id, card)
    return [card]


def test_a_reader_killed_mid_upload_loses_no_tap_and_duplicates_none(
    app: Flask, live_server, cards: list[VirtualKentCard], tmp_path: Path
) -> None:
    reader = register(app, name="Bus 42 reader")
    taps = fill_queue(tmp_path, cards, 600)
    kills = 0
    for after in (40, 200, 380):  # three kills, at different points of the upload
        process = sync_process(live_server.url, reader, tmp_path, "--batch-size", "10")
        deadline = time.monotonic() + 60
        while recorded_count(app, reader.client_id) < after and process.poll() is None:
            assert time.monotonic() < deadline, "the upload did not get going"
            time.sleep(0.005)
        if process.poll() is not None:
            break  # finished before it could be killed: the checks below still hold
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        assert process.returncode == -signal.SIGKILL
        kills += 1
        assert 0 < recorded_count(app, reader.client_id) < len(taps)
    assert kills >= 2, "the upload ran too fast to be killed in the middle"
    finished = sync_process(live_server.url, reader, tmp_path)
    out, err = finished.communicate(timeout=120)
    assert finished.returncode == 0, err
    report = json.loads(out)
    assert report["remaining"] == 0 and report["error"] is None
    ids = recorded_ids(app, reader.client_id)
    # Every tap once; each with the time it happened, so in the order it was queued.
    assert ids == [t.id for t in taps]
    assert open_queue(tmp_path).pending_count() == 0
    with in_app(app):
        state = db_session.get(Reader, reader.client_id)
        assert state is not None
        assert (state.taps_recorded, state.taps_refused, state.queued_taps) == (600, 0, 0)


def test_sync_flags_a_tap_allowed_for_a_card_hotlisted_since(
    app: Flask, live_server, cards: list[VirtualKentCard], resident_and_actor, tmp_path: Path
) -> None:
    reader = register(app, name="Library desk reader", mode="library", location="Dover")
    fill_queue(tmp_path, cards, 3)
    _, actor = resident_and_actor
    with in_app(app):
        card = issuance.dao.dao_get_cards_for_resident(resident_and_actor[0])[0]
        issuance.report_card(actor, card.id, "lost")
    process = sync_process(live_server.url, reader, tmp_path)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    report = json.loads(out)
    assert (report["recorded"], report["flagged"], report["remaining"]) == (3, 3, 0)
    with in_app(app):
        rows = list(db_session.scalars(select(Tap).order_by(Tap.id)))
    assert {(t.reader_decision, t.decision, t.code, t.follow_up) for t in rows} == {
        ("allow", "deny", "hotlisted", True)
    }


def test_sync_with_the_service_down_keeps_the_queue(
    app: Flask, cards: list[VirtualKentCard], tmp_path: Path
) -> None:
    reader = register(app, name="Offline bus")
    fill_queue(tmp_path, cards, 2)
    process = sync_process("http://127.0.0.1:9", reader, tmp_path)  # nothing listens there
    out, err = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "next sync goes on from here" in err
    assert json.loads(out)["remaining"] == 2
    assert TapQueue(tmp_path / "queue").pending_count() == 2


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


def _run(cli: CliRunner, *args: str, code: int = 0) -> Any:
    result = cli.invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


def test_readers_register_and_list(app: Flask, cli: CliRunner) -> None:
    made = json.loads(
        _run(
            cli,
            "readers", "register", "--name", "Stagecoach 15623", "--mode", "transport",
            "--location", "Canterbury", "--operator", "Stagecoach South East",
            "--route", "Triangle", "--vehicle", "15623", "--json",
        )
    )  # fmt: skip
    assert made["client_secret"] and made["mode"] == "transport"
    assert (made["operator"], made["route"], made["vehicle"]) == (
        "Stagecoach South East",
        "Triangle",
        "15623",
    )
    listed = json.loads(_run(cli, "readers", "list", "--json"))
    assert [r["client_id"] for r in listed] == [made["client_id"]]
    assert "client_secret" not in listed[0]
    assert listed[0]["last_contact_at"] is None and listed[0]["taps_flagged"] == 0
    assert "Canterbury" in _run(cli, "readers", "list")
    # An existing client with taps:write joins the fleet; one without it cannot.
    online = json.loads(
        _run(
            cli, "clients", "create", "--name", "Old reader", "--grant", "client_credentials",
            "--scope", "taps:write", "--json",
        )
    )  # fmt: skip
    _run(
        cli, "readers", "register", "--client-id", online["client_id"], "--mode", "library",
        "--location", "Maidstone library",
    )  # fmt: skip
    checker = json.loads(
        _run(
            cli, "clients", "create", "--name", "Checker", "--grant", "client_credentials",
            "--scope", "cards:read", "--json",
        )
    )  # fmt: skip
    refused = _run(
        cli, "readers", "register", "--client-id", checker["client_id"], "--mode", "library",
        "--location", "X", code=2,
    )  # fmt: skip
    assert "taps:write" in refused
    assert "--name" in _run(
        cli, "readers", "register", "--mode", "library", "--location", "Y", code=2
    )
    assert len(json.loads(_run(cli, "readers", "list", "--json"))) == 2
