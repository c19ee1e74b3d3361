"""Issue 5's journey end to end through real pcscd, vpcd and the virtual Kent Card.

A resident registers with staff help, staff see identity documents, the older person's
bus pass is granted on the ledger, a card is issued onto the virtual card in the vpcd
reader through pcscd, and ``kentcard reader tap --once --online URL --json`` (the real
command, a subprocess) asks a live identity service: entitled; reported lost: refused
within a second; a replacement card: entitled again, and a library member.

It touches the database, so unlike the other slow subprocess tests it runs in both the
SQLite and the PostgreSQL pass.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Any

import pytest
from flask import Flask

from cardio.cardnumber import mask
from cardio.issuer import Issuer
from cardio.pcsc import PcscReader
from entitlements.catalogue import load_catalogue
from entitlements.due import record_facts
from entitlements.engine import decide
from entitlements.facts import FactName, Source, VerificationLevel
from entitlements.gazetteer import built_in_gazetteer
from entitlements.ledger import store as ledger
from entitlements.ledger.events import Channel, EventKind, LedgerEvent
from entitlements.results import Outcome
from hardware.rig import Pcscd
from hardware.virtual_card import VirtualKentCard
from hardware.vpcd import VpcdCard
from idservice.cards import pcsc_counter_reader
from idservice.cards.issuer_keys import issuer_store
from idservice.config import Settings
from idservice.models import StaffMember
from idservice.services.residents import dao_get_resident_by_id
from idservice.staff import evidence as staff_evidence
from idservice.staff import services as staff_services
from idservice.staff.evidence import Seen
from idservice.staff.services import Access
from tests.conftest import LiveServer
from tests.factories import create_staff
from tests.hardware.conftest import READER
from tests.oauth.conftest import make_rp

pytestmark = pytest.mark.pcscd
KENTCARD = [sys.executable, "-m", "idservice.cli"]
PIN = "4826"
#: Reached State Pension age (66) long ago: the older person's bus pass is due.
DATE_OF_BIRTH = date(1951, 3, 14)


@pytest.fixture
def served_blank(pcscd: Pcscd, settings: Settings) -> Iterator[VpcdCard]:
    """A blank card of this instance's issuer in vpcd reader 0, served from this process."""
    store = issuer_store(settings.instance_path, create_development=True)
    issuer = store.load() if store.exists() else store.init()
    card = VpcdCard(VirtualKentCard.blank(issuer.personalisation_key.public_point)).start()
    try:
        yield card
    finally:
        card.stop()
        reader = PcscReader(READER)
        try:
            reader.wait_for_removal(3)
        finally:
            reader.reset()


def _instance_for_reader(settings: Settings, folder: Path) -> Path:
    """The reader's own instance folder: only the issuer's public keyring, no secrets."""
    issuer: Issuer = issuer_store(settings.instance_path).load()
    issuer.keyring().save(folder / "reader" / "issuer-keys.json")
    return folder


class TapCommand:
    """``kentcard reader tap --once --online URL --json`` running as a subprocess."""

    def __init__(self, instance: Path, url: str, client_id: str, secret: str, mode: str) -> None:
        self.process = subprocess.Popen(
            [
                *KENTCARD,
                "reader",
                "tap",
                "--once",
                "--json",
                "--mode",
                mode,
                "--reader",
                READER,
                "--timeout",
                "60",
                "--online",
                url,
                "--client-id",
                client_id,
                "--client-secret-stdin",
            ],
            env={**os.environ, "KENTCARD_INSTANCE_PATH": str(instance), "PYTHONUNBUFFERED": "1"},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdin and self.process.stdout and self.process.stderr
        self.process.stdin.write(secret + "\n")
        self.process.stdin.close()
        self.lines: queue.Queue[tuple[str, str, float]] = queue.Queue()
        self.events: list[str] = []
        for name, stream in (("out", self.process.stdout), ("err", self.process.stderr)):
            threading.Thread(target=self._read, args=(name, stream), daemon=True).start()

    def _read(self, name: str, stream: IO[str]) -> None:
        for line in stream:
            self.lines.put((name, line, time.monotonic()))

    def wait_ready(self, timeout: float = 60) -> None:
        """Until the command says it decides online (it has fetched its token)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            name, line, _ = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            self.events.append(line)
            if name == "err" and "deciding online at" in line:
                return
        raise AssertionError(f"the tap command never got ready: {self.events}")

    def result(self, timeout: float = 60) -> tuple[dict[str, Any], float]:
        """The decision it printed and when it arrived (monotonic clock)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                name, line, at = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            self.events.append(line)
            if name == "out":
                self.process.wait(timeout=10)
                return json.loads(line), at
        self.process.kill()
        raise AssertionError(f"no decision printed: {self.events}")


def _grant_due_services(app: Flask, staff: StaffMember, resident_id: str) -> list[str]:
    """The eligibility journey's grant: the engine judges the record's facts (documents seen
    by staff), and each service it finds the resident eligible for goes on the ledger."""
    with app.app_context():
        resident = dao_get_resident_by_id(resident_id)
        facts = record_facts(
            resident.date_of_birth,
            resident.postcode,
            resident.uprn,
            datetime.now(UTC),
            VerificationLevel.CHECKED,
            Source.STAFF_SEEN_DOCUMENT,
            staff.id,
        )
    catalogue = load_catalogue()
    events = []
    for code in ("bus-pass-older", "library"):
        decision = decide(catalogue.get(code), facts, date.today(), built_in_gazetteer())
        assert decision.outcome is Outcome.ELIGIBLE, (code, decision)
        events.append(
            LedgerEvent(
                kind=EventKind.GRANT,
                resident=resident_id,
                service=code,
                actor=staff.id,
                channel=Channel.FACE_TO_FACE,
                reason="eligible on documents seen at a Gateway",
                occurred_at=datetime.now(UTC),
                evidence=("identity-evidence:documents-seen",),
                valid_from=decision.valid_from,
                valid_until=decision.valid_until,
            )
        )
    ledger.append(app.extensions["kentcard_engine"], events)
    return [e.service for e in events]


def test_issue_tap_report_lost_replace_through_pcscd(
    app: Flask,
    live_server: LiveServer,
    settings: Settings,
    served_blank: VpcdCard,
    tmp_path: Path,
) -> None:
    # Register with staff help, and record the documents seen.
    with app.test_request_context():
        staff = create_staff()
        resident = staff_services.register_resident(
            staff,
            "face-to-face",
            "new Kent Card",
            {
                "given_name": "Edith",
                "family_name": "Okafor",
                "date_of_birth": DATE_OF_BIRTH,
                "address_line_1": "1 High Street",
                "town": "Canterbury",
                "postcode": "CT1 2JE",
                "email": None,
            },
        )
        access = Access(resident.id, "face-to-face", "new Kent Card")
        passport = Seen(confirmed=frozenset({FactName.DATE_OF_BIRTH}))
        staff_evidence.record_evidence(staff, access, "passport", "123456789", passport)
        bill = Seen(confirmed=frozenset({FactName.ADDRESS}))
        recorded = staff_evidence.record_evidence(
            staff, access, "council-tax-bill", "CT-99-1234", bill
        )
    assert recorded.level == "documents-seen"
    assert _grant_due_services(app, staff, resident.id) == ["bus-pass-older", "library"]

    # Issue onto the blank virtual card in the vpcd reader, through pcscd.
    connect = pcsc_counter_reader(READER)
    with app.test_request_context():
        first, _ = staff_services.issue_card(staff, access, connect, PIN)
    assert first.status == "active"

    reader_client = make_rp(
        app,
        name="Stagecoach bus 42",
        redirect_uris=[],
        grant_types=["client_credentials"],
        scope="taps:write",
    )
    assert reader_client.client_secret
    instance = _instance_for_reader(settings, tmp_path / "reader-instance")

    def tap(mode: str) -> tuple[dict[str, Any], TapCommand]:
        command = TapCommand(
            instance, live_server.url, reader_client.client_id, reader_client.client_secret, mode
        )
        command.wait_ready()
        return command.result()[0], command

    entitled, _ = tap("transport")
    assert entitled["decision"] == "allow", entitled
    assert entitled["code"] == "entitled"
    assert entitled["entitlement"] == "bus-pass-older"
    assert entitled["card_number"] == mask(first.card_number)
    assert entitled["apdu_count"] == 2

    # Report it lost while a reader waits at the bus door; the next tap is refused at once.
    served_blank.remove()
    assert PcscReader(READER).wait_for_removal(5)
    waiting = TapCommand(
        instance, live_server.url, reader_client.client_id, reader_client.client_secret, "transport"
    )
    waiting.wait_ready()
    with app.test_request_context():
        staff_services.report_card(staff, access, first.id, "lost")
    reported = time.monotonic()
    served_blank.insert()
    refused, decided_at = waiting.result()
    assert refused["decision"] == "deny"
    assert refused["reason"] == "card reported lost"
    assert decided_at - reported < 1.0, f"refused {decided_at - reported:.2f} s after the report"

    # A replacement card: a new blank card in the reader, issued at the counter.
    served_blank.remove()
    assert PcscReader(READER).wait_for_removal(5)
    store = issuer_store(settings.instance_path)
    served_blank.card = VirtualKentCard.blank(store.load().personalisation_key.public_point)
    served_blank.insert()
    with app.test_request_context():
        second, replaced = staff_services.issue_card(staff, access, connect, PIN)
    assert replaced is None and second.card_number != first.card_number
    assert second.replaces_id == first.id

    again, _ = tap("transport")
    assert again["decision"] == "allow" and again["entitlement"] == "bus-pass-older"
    assert again["card_number"] == mask(second.card_number)
    library, _ = tap("library")
    assert library["decision"] == "allow" and library["reason"] == "library member"
