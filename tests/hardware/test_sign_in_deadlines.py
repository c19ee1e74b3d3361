"""Kiosk sign-in with cards that do not answer, through real pcscd and vpcd.

``kentcard reader sign-in`` (the real command, a subprocess) against a live identity
service, the issued card in vpcd reader 0: a silent card, an empty answer and a one-byte
answer are each refused with their code within the deadline, and the kiosk goes on to the
next tap and signs the browser in; a broken card left in the reader ends the command with
its reason and status 1 (a silent card's call still blocked in pcscd), never a hang or a
traceback. pcscd waits for ever on a silent card, so what ends those taps is the reader's
own deadline (``cardio.deadline``).

It touches the database (the live service), so like test_online_taps it runs in both the
SQLite and the PostgreSQL pass.
"""

from __future__ import annotations

import os
import queue
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import IO

import pytest
from flask import Flask

from cardio import spec
from cardio.pcsc import PcscReader
from cardio.signin import SIGN_IN_DEADLINES
from hardware.faulty_card import Fault, FaultyCard
from hardware.rig import Pcscd
from hardware.virtual_card import Card, VirtualKentCard
from hardware.vpcd import EmptyFrameThen, VpcdCard
from idservice.cards.issuance import CounterActor
from idservice.cards.issuer_keys import issuer_store
from idservice.cli.card import DEFAULT_APDU_DEADLINE_MS
from idservice.config import Settings
from tests.accounts.conftest import in_app
from tests.cards.conftest import PIN
from tests.cards.test_card_sign_in_online import ACCEPTED, WORDS, code_on_screen, kiosk_client
from tests.cards.test_issuance import issue_one
from tests.conftest import LiveServer
from tests.factories import create_resident, create_staff
from tests.hardware.conftest import READER
from tests.hardware.test_card_deadlines import swap
from tests.hardware.test_pcscd import KENTCARD

pytestmark = pytest.mark.pcscd
SELECT, VERIFY, AUTHENTICATE = spec.INS_SELECT, spec.INS_VERIFY, spec.INS_INTERNAL_AUTHENTICATE
REFUSED = re.compile(r"tap refused: (\w+): .* \((\d+) APDUs, ([\d.]+) ms\)")


def longest_ms(deadline_ms: int) -> float:
    """The longest a refused sign-in attempt may take: its whole card budget, and room for
    a loaded test machine to schedule the reader's thread."""
    return SIGN_IN_DEADLINES * deadline_ms + 100


@pytest.fixture
def issued(
    app: Flask, settings: Settings, pcscd: Pcscd
) -> Iterator[tuple[VirtualKentCard, VpcdCard]]:
    """A card issued by this instance to a resident, and the vpcd reader 0 it goes into
    (empty at first)."""
    store = issuer_store(settings.instance_path, create_development=True)
    issuer = store.load() if store.exists() else store.init()
    card = VirtualKentCard.blank(issuer.personalisation_key.public_point)
    with in_app(app):
        resident, staff = create_resident(), create_staff()
        actor = CounterActor(staff.id, staff.role, "face-to-face", "new card")
        resident_id = resident.id
    issue_one(app, actor, resident_id, card)
    served = VpcdCard(card).start(inserted=False)
    try:
        yield card, served
    finally:
        served.stop()
        reader = PcscReader(READER)
        try:
            reader.wait_for_removal(3)
        finally:
            reader.reset()


class SignInCommand:
    """``kentcard reader sign-in --pin-stdin`` in a subprocess, its lines read from threads."""

    def __init__(self, url: str, code: str, secret: str, client_id: str, *extra: str) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("KENTCARD_READER_APDU_DEADLINE_MS", None)
        self.process = subprocess.Popen(
            [
                *KENTCARD,
                "reader",
                "sign-in",
                "--code",
                code,
                "--online",
                url,
                "--client-id",
                client_id,
                "--client-secret-stdin",
                "--pin-stdin",
                "--reader",
                READER,
                *extra,
            ],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdin and self.process.stdout and self.process.stderr
        self.process.stdin.write("\n".join([secret, PIN, PIN, PIN]) + "\n")
        self.process.stdin.close()
        self.lines: dict[str, queue.Queue[str]] = {"out": queue.Queue(), "err": queue.Queue()}
        self.seen: list[tuple[str, str]] = []
        self.readers = [
            threading.Thread(target=self._read, args=(name, stream), daemon=True)
            for name, stream in (("out", self.process.stdout), ("err", self.process.stderr))
        ]
        for reader in self.readers:
            reader.start()

    def _read(self, name: str, stream: IO[str]) -> None:
        for line in stream:
            self.seen.append((name, line.rstrip("\n")))
            self.lines[name].put(line.rstrip("\n"))

    def next_line(self, name: str, timeout: float = 30) -> str:
        """The next line on ``name`` ("out": the kiosk screen, "err": the reader's events)."""
        try:
            return self.lines[name].get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"nothing more on std{name}: {self.seen}") from None

    def refusal(self, timeout: float = 30) -> tuple[str, int, float]:
        """The next tap the reader refused: (code, APDUs, milliseconds)."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            event = self.next_line("err", left)
            if found := REFUSED.search(event):
                return found.group(1), int(found.group(2)), float(found.group(3))
        raise AssertionError(f"no tap refused: {self.seen}")

    def finish(self, timeout: float = 30) -> tuple[int, str]:
        """Exit status, and everything the command wrote."""
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise AssertionError(f"the sign-in command did not exit: {self.seen}") from None
        for reader in self.readers:
            reader.join(5)  # to the end of both pipes
        return self.process.returncode, "\n".join(line for _, line in self.seen)


def put_in(served: VpcdCard, card: Card, empty_frame_then: EmptyFrameThen = "close") -> None:
    served.card = card
    served.empty_frame_then = empty_frame_then
    served.insert()


@pytest.mark.parametrize(
    "faults",
    [
        [(Fault.SILENT, VERIFY, "card_silent", 2), (Fault.SILENT, AUTHENTICATE, "card_silent", 3)],
        [
            (Fault.EMPTY, VERIFY, "card_empty_answer", 2),
            (Fault.ONE_BYTE, AUTHENTICATE, "card_no_status_word", 3),
        ],
    ],
    ids=["silent", "empty-and-one-byte"],
)
def test_the_kiosk_refuses_cards_that_do_not_answer_then_signs_in_at_the_next_tap(
    app: Flask,
    live_server: LiveServer,
    issued: tuple[VirtualKentCard, VpcdCard],
    faults: list[tuple[Fault, int, str, int]],
) -> None:
    """Before: a silent card held ``reader sign-in`` for ever; an empty or one-byte answer
    ended it in a traceback."""
    card, served = issued
    kiosk = kiosk_client(app)
    browser, code = code_on_screen(live_server.url)
    put_in(served, FaultyCard(card, faults[0][0], faults[0][1]))
    command = SignInCommand(live_server.url, code, kiosk.client_secret or "", kiosk.client_id)
    try:
        for index, (fault, on_ins, refused_code, apdus) in enumerate(faults):
            what = f"{fault} on {on_ins:02X}"
            got_code, got_apdus, elapsed_ms = command.refusal()
            assert (got_code, got_apdus) == (refused_code, apdus), what
            assert elapsed_ms < longest_ms(DEFAULT_APDU_DEADLINE_MS), what
            if refused_code == "card_silent":
                assert elapsed_ms >= DEFAULT_APDU_DEADLINE_MS, what
            assert command.next_line("out") == WORDS[refused_code], what
            following = faults[index + 1] if index + 1 < len(faults) else None
            swap(served, FaultyCard(card, following[0], following[1]) if following else card)
        assert command.next_line("out") == ACCEPTED
        status, said = command.finish()
    finally:
        if command.process.poll() is None:
            command.process.kill()
    assert status == 0, said
    assert "Traceback" not in said, said
    assert browser.get(f"{live_server.url}/sign-in/card/wait").url.endswith("/account")


@pytest.mark.parametrize(
    ("fault", "on_ins", "refused_code", "empty_frame_then"),
    [
        (Fault.SILENT, AUTHENTICATE, "card_silent", "close"),
        (Fault.EMPTY, SELECT, "card_silent", "wait"),  # vpcd waits on an empty frame
        (Fault.ONE_BYTE, VERIFY, "card_no_status_word", "close"),
    ],
)
def test_a_broken_card_left_in_the_kiosk_reader_ends_the_command_with_its_reason(
    app: Flask,
    live_server: LiveServer,
    issued: tuple[VirtualKentCard, VpcdCard],
    fault: Fault,
    on_ins: int,
    refused_code: str,
    empty_frame_then: EmptyFrameThen,
) -> None:
    """The command exits 1 with what the kiosk says, while a silent card's call is still
    blocked in pcscd; the deadline given with ``--apdu-deadline-ms``."""
    card, served = issued
    kiosk = kiosk_client(app)
    _, code = code_on_screen(live_server.url)
    put_in(served, FaultyCard(card, fault, on_ins), empty_frame_then)
    deadline_ms = 300
    started = time.monotonic()
    command = SignInCommand(
        live_server.url,
        code,
        kiosk.client_secret or "",
        kiosk.client_id,
        "--timeout",
        "2",
        "--apdu-deadline-ms",
        str(deadline_ms),
    )
    try:
        got_code, _, elapsed_ms = command.refusal()
        status, said = command.finish()
    finally:
        if command.process.poll() is None:
            command.process.kill()
    took = time.monotonic() - started
    assert got_code == refused_code, said
    assert elapsed_ms < longest_ms(deadline_ms), said
    if refused_code == "card_silent":
        assert elapsed_ms >= deadline_ms, said
    assert status == 1, said
    assert WORDS[refused_code] in said
    assert "not signed in: the card was not taken out of the reader: start again" in said
    assert "Traceback" not in said, said
    assert took < 30, f"the sign-in command took {took:.1f} s to exit"
    served.remove()  # the blocked call in pcscd ends; the next test finds the reader free
