"""Taps through real pcscd and vpcd: pyscard, insert and remove, the CLI, the fault test."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO

import pytest

from cardio.cardnumber import mask
from cardio.errors import InvalidPinError, PinBlockedError
from cardio.issuer import Issuer
from cardio.pcsc import PcscReader
from cardio.session import KentCardSession
from cardio.snapshot_format import fingerprint
from cardio.taplog import read_log
from cardio.verify import authenticate
from hardware.card_state import CardStateFile
from hardware.rig import Pcscd
from hardware.virtual_card import InProcessConnection, VirtualKentCard
from hardware.vpcd import VpcdCard
from idservice.cards.issuer_keys import issuer_store
from tests.cardio.offline_lists import LIBRARY, ListSigner, body, grant
from tests.hardware.conftest import CARD_NUMBER, PIN, READER, in_ci, once_per_make_test

pytestmark = pytest.mark.pcscd
KENTCARD = [sys.executable, "-m", "idservice.cli"]


def test_tap_through_pcscd_takes_two_apdus(
    served: VpcdCard, issuer_instance: tuple[Path, Issuer]
) -> None:
    _, issuer = issuer_instance
    reader = PcscReader(READER)
    try:
        assert reader.wait_for_card(5)
        connection = reader.connect()
        verified, apdus = authenticate(connection, issuer.keyring(), date(2026, 1, 1))
        connection.disconnect()
    finally:
        reader.reset()
    assert verified.card_number == CARD_NUMBER
    assert apdus == 2
    assert served.apdus == 2


def test_remove_and_insert_keeps_the_pin_block(served: VpcdCard, card_state: Path) -> None:
    reader = PcscReader(READER)
    try:
        assert reader.wait_for_card(5)
        session = KentCardSession(reader.connect())
        for _ in range(3):
            with pytest.raises(InvalidPinError):
                session.verify_pin("0000")
        served.remove()
        assert reader.wait_for_removal(5)
        served.card = VirtualKentCard.from_file(CardStateFile(card_state))  # power cut
        served.insert()
        assert reader.wait_for_card(5)
        with pytest.raises(PinBlockedError) as caught:
            KentCardSession(reader.connect()).verify_pin(PIN)
        assert str(caught.value).startswith("6983")
    finally:
        reader.reset()


def _env(instance: Path) -> dict[str, str]:
    return {**os.environ, "KENTCARD_INSTANCE_PATH": str(instance), "PYTHONUNBUFFERED": "1"}


def test_cli_new_run_and_tap_once(pcscd: Pcscd, issuer_instance: tuple[Path, Issuer]) -> None:
    instance, _ = issuer_instance
    env = _env(instance)
    state = instance / "cli-card.json"
    state.unlink(missing_ok=True)
    made = subprocess.run(
        [*KENTCARD, "virtual-card", "new", "--state", str(state), "--card-number", CARD_NUMBER],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    # The service's signed offline list for library readers, with this card on it.
    verified, _ = authenticate(
        InProcessConnection(VirtualKentCard.from_file(CardStateFile(state))),
        issuer_store(instance).public_keyring(),
        date.today(),
    )
    assert verified.public_point is not None
    signer = ListSigner("library", issuer_store(instance).load_snapshot_key(), LIBRARY)
    signer_file = instance / "library-1.full.kcsnap"
    listed = body(grant(fingerprint(verified.public_point), 0))
    signer_file.write_bytes(signer.full(1, listed, created_at=datetime.now(UTC)))
    loaded = subprocess.run(
        [*KENTCARD, "reader", "snapshot", "load", str(signer_file), "--mode", "library"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    run = subprocess.Popen(
        [*KENTCARD, "virtual-card", "run", "--reader", "0", "--state", str(state)], env=env
    )
    try:
        tap = subprocess.run(
            [*KENTCARD, "reader", "tap", "--once", "--json", "--reader", READER, "--timeout", "20"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        run.terminate()
        run.wait(timeout=10)
    assert tap.returncode == 0, tap.stderr
    shown = json.loads(tap.stdout)
    assert shown["decision"] == "allow", shown
    assert shown["card_number"] == mask(CARD_NUMBER)
    assert shown["entitlement"] == "library"
    assert shown["apdu_count"] == 2


class Watch:
    """``kentcard reader watch --json`` in a subprocess, its taps read from a thread."""

    def __init__(self, instance: Path, deadline_ms: int | None = None) -> None:
        env = _env(instance)
        if deadline_ms is not None:  # else the suite's roomy one (tests/conftest.py)
            env["KENTCARD_READER_APDU_DEADLINE_MS"] = str(deadline_ms)
        self.process = subprocess.Popen(
            [*KENTCARD, "reader", "watch", "--json", "--mode", "library", "--reader", READER],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.taps: list[dict[str, object]] = []
        self.events: list[str] = []
        self._new = threading.Condition()
        assert self.process.stdout and self.process.stderr
        threading.Thread(target=self._read, args=(self.process.stdout, True), daemon=True).start()
        threading.Thread(target=self._read, args=(self.process.stderr, False), daemon=True).start()

    def _read(self, stream: IO[str], taps: bool) -> None:
        for line in stream:
            with self._new:
                (self.taps.append(json.loads(line)) if taps else self.events.append(line))
                self._new.notify_all()

    def wait_taps(self, count: int, timeout: float = 20) -> list[dict[str, object]]:
        with self._new:
            ok = self._new.wait_for(lambda: len(self.taps) >= count, timeout)
        assert ok, f"only {len(self.taps)} taps shown; events: {self.events}"
        return self.taps

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
        self.process.wait(timeout=10)


def test_killing_the_station_loses_no_acknowledged_tap(
    served: VpcdCard, issuer_instance: tuple[Path, Issuer]
) -> None:
    once_per_make_test()
    instance, _ = issuer_instance
    log = instance / "reader" / "taps.jsonl"
    before = len(read_log(log)) if log.exists() else 0
    watch = Watch(instance)
    try:
        for count in (1, 2, 3):
            watch.wait_taps(count)
            served.remove()
            # Long enough for the station to see the card go even on a busy machine (at
            # 0.3 s a loaded CI host once missed the removal, and so the next tap).
            time.sleep(1.0)
            served.insert()
        watch.process.send_signal(signal.SIGKILL)
        watch.process.wait(timeout=10)
        shown = list(watch.taps)
    finally:
        watch.stop()
    logged = read_log(log)[before:]
    assert len(shown) >= 3
    logged_times = {record["time"] for record in logged}
    assert all(tap["time"] in logged_times for tap in shown)


def test_station_recovers_when_pcscd_restarts(
    pcscd: Pcscd, served: VpcdCard, issuer_instance: tuple[Path, Issuer]
) -> None:
    once_per_make_test()
    if not pcscd.started_here and not in_ci():
        pytest.skip("pcscd was already running; this test only kills a pcscd it started")
    if not pcscd.started_here:
        pytest.fail("in CI the test run must own pcscd (stop the system pcscd first)")
    instance, _ = issuer_instance
    watch = Watch(instance)
    try:
        first = watch.wait_taps(1)[0]
        assert first["decision"] in ("allow", "deny")
        pcscd.kill()
        time.sleep(1.0)  # the station sees pcscd gone and backs off
        pcscd.start()
        pcscd.wait_ready()
        # The virtual card reconnects to the new pcscd's vpcd by itself: a new tap.
        second = watch.wait_taps(2, timeout=30)[1]
        assert second["decision"] in ("allow", "deny")
        assert second["apdu_count"] == 2
        assert watch.process.poll() is None, "the station must still be running"
    finally:
        watch.stop()
    assert any("waiting for it to come back" in event for event in watch.events)
