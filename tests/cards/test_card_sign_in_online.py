"""The kiosk reader's sign-in over real HTTP (what ``kentcard reader sign-in`` runs).

The card is in process, in a reader that plays the resident's hand: each card is put in
when the kiosk waits for one, and taken out when it waits for the card to leave. Cards
that do not answer (or answer no response APDU, or a status word the sign-in cannot use)
are refused with the reader station's codes within the deadline, and the next tap signs
in; through the real pcscd in tests/hardware/test_sign_in_deadlines.py.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import pytest
import requests
from flask import Flask

from cardio import spec
from cardio.apdu import sw_text
from cardio.connection import (
    CardConnection,
    CardRemovedError,
    ReaderUnavailableError,
    ServiceUnavailableError,
)
from cardio.protocol import MAX_GET_RESPONSES
from cardio.signin import (
    SIGN_IN_DEADLINES,
    SIGN_IN_TAPS,
    KioskSignIn,
    OnlineSignIn,
    RefusedTap,
)
from cardio.station import CardFault
from hardware.faulty_card import Fault, FaultyCard
from hardware.virtual_card import Card, InProcessConnection, VirtualKentCard
from tests.cards.conftest import PIN
from tests.cards.test_issuance import issue_one
from tests.conftest import LiveServer
from tests.oauth.conftest import RP, make_rp

SELECT, VERIFY, AUTHENTICATE = spec.INS_SELECT, spec.INS_VERIFY, spec.INS_INTERNAL_AUTHENTICATE
#: A deadline with room for a loaded test machine.
DEADLINE = 0.1
WORDS = {fault.code: fault.words for fault in CardFault}
ACCEPTED = "Card and PIN accepted: continue on the screen"


def kiosk_client(app: Flask) -> RP:
    """A kiosk's reader: a registered client with only the sign-in scope."""
    return make_rp(
        app,
        name="Kiosk",
        redirect_uris=[],
        grant_types=["client_credentials"],
        scope="card-sign-in:write",
    )


def code_on_screen(url: str) -> tuple[requests.Session, str]:
    """A browser at ``url`` starts a card sign-in; returns it and the code it shows."""
    browser = requests.Session()
    page = browser.get(f"{url}/sign-in/card")
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    waiting = browser.post(f"{url}/sign-in/card", data={"csrf_token": token})
    return browser, waiting.text.split('<strong class="kc-code">')[1].split("<")[0]


class HandAtTheReader:
    """A kiosk reader in process (:class:`cardio.connection.CardReader`): the cards a hand
    puts in, one per tap; ``takes_out`` False leaves a card in the reader for good."""

    name = "Kiosk reader 00"

    def __init__(self, *cards: Card | InProcessConnection, takes_out: bool = True) -> None:
        self.cards = [
            c if isinstance(c, InProcessConnection) else InProcessConnection(c) for c in cards
        ]
        self.takes_out = takes_out
        self.card: InProcessConnection | None = None
        self.taps = 0
        self.resets = 0

    def wait_for_card(self, timeout: float) -> bool:
        if self.card is not None:
            return True
        if not self.cards:
            time.sleep(timeout)  # nobody puts a card in
            return False
        self.card = self.cards.pop(0)
        self.taps += 1
        return True

    def wait_for_removal(self, timeout: float) -> bool:
        if not self.takes_out:
            time.sleep(timeout)
            return False
        self.take_out()
        return True

    def take_out(self) -> None:
        """The card leaves the field: a call blocked on a silent card ends."""
        if self.card is not None:
            self.card.remove()
        self.card = None

    def connect(self) -> CardConnection:
        if self.card is None:
            raise CardRemovedError("no card in the reader")
        return self.card

    def reset(self) -> None:
        self.resets += 1


def test_reader_sign_in_with_a_wrong_pin_then_the_right_one(
    app: Flask, live_server: LiveServer, blank_card, resident_and_actor
) -> None:
    resident_id, actor = resident_and_actor
    card = blank_card()
    issue_one(app, actor, resident_id, card)
    kiosk = kiosk_client(app)
    browser, code = code_on_screen(live_server.url)

    said: list[str] = []
    pins = iter(["0000", PIN])
    service = OnlineSignIn(live_server.url, kiosk.client_id, kiosk.client_secret or "")
    result = KioskSignIn(HandAtTheReader(card), service).run(code, lambda: next(pins), said.append)
    assert result.signed_in and not result.refused, said
    assert said[0] == "63C2 wrong PIN, 2 tries left: wrong PIN, 2 tries left"
    assert said[1] == ACCEPTED
    done = browser.get(f"{live_server.url}/sign-in/card/wait")  # Continue, or a reload
    assert done.url == f"{live_server.url}/account"
    assert "Kent Card" in browser.get(f"{live_server.url}/account/activity").text

    # The code is spent: a second run is refused by the service, not signed in again.
    again = KioskSignIn(HandAtTheReader(card), service).run(code, lambda: PIN, said.append)
    assert not again.signed_in and "already been used" in said[-1]


@pytest.fixture
def kiosk(
    app: Flask, live_server: LiveServer, blank_card, resident_and_actor
) -> tuple[VirtualKentCard, OnlineSignIn, requests.Session, str]:
    """An issued card, the kiosk's service, and a browser waiting with its code."""
    resident_id, actor = resident_and_actor
    card = blank_card()
    issue_one(app, actor, resident_id, card)
    client = kiosk_client(app)
    service = OnlineSignIn(live_server.url, client.client_id, client.client_secret or "")
    browser, code = code_on_screen(live_server.url)
    return card, service, browser, code


@dataclass
class KioskRun:
    """What a sign-in at the kiosk ended in, what the screen said, what the reader saw."""

    signed_in: bool
    refused: tuple[RefusedTap, ...]
    said: list[str]
    events: list[str]


def sign_in(service: OnlineSignIn, code: str, reader: HandAtTheReader) -> KioskRun:
    """Run the kiosk's sign-in (the right PIN for every tap)."""
    said: list[str] = []
    events: list[str] = []
    kiosk = KioskSignIn(reader, service, card_wait=1, apdu_deadline=DEADLINE)
    try:
        result = kiosk.run(code, lambda: PIN, said.append, events.append)
    finally:
        reader.take_out()  # a silent card's blocked call ends when the card leaves the field
    return KioskRun(result.signed_in, result.refused, said, events)


@pytest.mark.parametrize(
    ("fault", "on_ins", "code", "apdus"),
    [
        (Fault.SILENT, SELECT, "card_silent", 1),
        (Fault.SILENT, VERIFY, "card_silent", 2),
        (Fault.SILENT, AUTHENTICATE, "card_silent", 3),
        (Fault.EMPTY, SELECT, "card_empty_answer", 1),
        (Fault.EMPTY, VERIFY, "card_empty_answer", 2),
        (Fault.EMPTY, AUTHENTICATE, "card_empty_answer", 3),
        (Fault.ONE_BYTE, SELECT, "card_no_status_word", 1),
        (Fault.ONE_BYTE, VERIFY, "card_no_status_word", 2),
        (Fault.ONE_BYTE, AUTHENTICATE, "card_no_status_word", 3),
    ],
)
def test_a_card_that_does_not_answer_is_refused_in_time_and_the_next_tap_signs_in(
    kiosk: tuple[VirtualKentCard, OnlineSignIn, requests.Session, str],
    live_server: LiveServer,
    caplog: pytest.LogCaptureFixture,
    fault: Fault,
    on_ins: int,
    code: str,
    apdus: int,
) -> None:
    """Before: a silent card held the kiosk for ever; an empty or one-byte answer ended
    ``reader sign-in`` in a traceback."""
    card, service, browser, screen_code = kiosk
    reader = HandAtTheReader(FaultyCard(card, fault, on_ins), card)
    started = time.monotonic()
    outcome: list[KioskRun] = []
    kiosk_run = threading.Thread(
        target=lambda: outcome.append(sign_in(service, screen_code, reader)), daemon=True
    )
    kiosk_run.start()
    kiosk_run.join(30)
    reader.take_out()
    assert outcome, "the kiosk is still waiting on the card"
    run = outcome[0]
    refused = run.refused
    assert run.signed_in, run.said
    assert [(r.code, r.words, r.apdu_count) for r in refused] == [(code, WORDS[code], apdus)]
    assert refused[0].elapsed_ms < SIGN_IN_DEADLINES * DEADLINE * 1000 + 100
    if fault is Fault.SILENT:
        assert refused[0].elapsed_ms >= DEADLINE * 1000
        assert reader.resets == 1  # the blocked call keeps its context; the reader starts afresh
    else:
        assert reader.resets == 0
    assert run.said == [WORDS[code], ACCEPTED]  # "...: tap again", and the next tap signs in
    assert WORDS[code].endswith("tap again")
    assert any(event.startswith(f"tap refused: {code}: ") for event in run.events), run.events
    assert reader.taps == 2 and time.monotonic() - started < 20
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # no traceback
    assert browser.get(f"{live_server.url}/sign-in/card/wait").url.endswith("/account")


class Answers(InProcessConnection):
    """The genuine card, except that ``on_ins`` is answered ``answer`` (after ``delay``)."""

    def __init__(
        self, card: VirtualKentCard, on_ins: int, answer: tuple[bytes, int], delay: float = 0
    ) -> None:
        super().__init__(card)
        self.on_ins, self.answer, self.delay = on_ins, answer, delay

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        if apdu[1] not in (self.on_ins, spec.INS_GET_RESPONSE):
            return super().transmit(apdu)
        time.sleep(self.delay)
        return self.answer


class PulledOnVerify(InProcessConnection):
    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        if apdu[1] == VERIFY:
            raise CardRemovedError("card removed")
        return super().transmit(apdu)


@pytest.mark.parametrize(
    ("broken", "code", "words"),
    [
        (  # a status word the sign-in cannot use: before, a traceback
            lambda card: Answers(card, VERIFY, (b"", 0x6400)),
            "card_error",
            f"card answered {sw_text(0x6400)}: tap again, or send the card to a Gateway",
        ),
        (  # more bytes for ever: past the bounds on GET RESPONSE
            lambda card: Answers(card, AUTHENTICATE, (b"\x00" * 16, 0x6110)),
            "card_protocol_error",
            WORDS["card_protocol_error"],
        ),
        (  # each answer in time, the attempt's calls together too slow
            lambda card: Answers(card, AUTHENTICATE, (b"\x00" * 16, 0x6110), 0.4 * DEADLINE),
            "card_too_slow",
            WORDS["card_too_slow"],
        ),
        (lambda card: PulledOnVerify(card), "card_removed", WORDS["card_removed"]),
    ],
    ids=["card_error", "card_protocol_error", "card_too_slow", "card_removed"],
)
def test_other_cards_that_do_not_finish_are_named_and_the_next_tap_signs_in(
    kiosk: tuple[VirtualKentCard, OnlineSignIn, requests.Session, str],
    caplog: pytest.LogCaptureFixture,
    broken,
    code: str,
    words: str,
) -> None:
    card, service, _, screen_code = kiosk
    run = sign_in(service, screen_code, HandAtTheReader(broken(card), card))
    assert run.signed_in, run.said
    assert [(r.code, r.words) for r in run.refused] == [(code, words)]
    assert run.said == [words, ACCEPTED]
    if code == "card_protocol_error":
        assert run.refused[0].apdu_count == 3 + MAX_GET_RESPONSES
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_card_that_never_answers_properly_ends_the_sign_in_after_its_taps(
    kiosk: tuple[VirtualKentCard, OnlineSignIn, requests.Session, str],
    live_server: LiveServer,
) -> None:
    card, service, browser, screen_code = kiosk
    broken = [FaultyCard(card, Fault.ONE_BYTE, VERIFY) for _ in range(SIGN_IN_TAPS)]
    run = sign_in(service, screen_code, HandAtTheReader(*broken, card))
    assert not run.signed_in
    assert [r.code for r in run.refused] == ["card_no_status_word"] * SIGN_IN_TAPS
    assert run.said == [WORDS["card_no_status_word"]] * (SIGN_IN_TAPS - 1) + [
        f"not signed in: the card did not answer properly {SIGN_IN_TAPS} times: start again, "
        "or take the card to a Gateway or library"
    ]
    # The sign-in is still waiting on the screen: the code works at the next attempt.
    again = sign_in(service, screen_code, HandAtTheReader(card))
    assert again.signed_in and again.said == [ACCEPTED]
    assert browser.get(f"{live_server.url}/sign-in/card/wait").url.endswith("/account")


def test_a_silent_card_left_in_the_reader_ends_the_sign_in_with_a_reason(
    kiosk: tuple[VirtualKentCard, OnlineSignIn, requests.Session, str],
) -> None:
    card, service, _, screen_code = kiosk
    reader = HandAtTheReader(FaultyCard(card, Fault.SILENT, AUTHENTICATE), takes_out=False)
    started = time.monotonic()
    run = sign_in(service, screen_code, reader)
    assert not run.signed_in
    assert [r.code for r in run.refused] == ["card_silent"]
    assert run.said == [
        WORDS["card_silent"],
        "not signed in: the card was not taken out of the reader: start again",
    ]
    assert time.monotonic() - started < 10


@pytest.mark.parametrize(
    "failure",
    [ServiceUnavailableError("pcscd is not answering"), ReaderUnavailableError("unplugged")],
)
def test_pcscd_or_the_reader_gone_is_said_not_a_traceback(
    kiosk: tuple[VirtualKentCard, OnlineSignIn, requests.Session, str],
    failure: Exception,
) -> None:
    """Before: pcscd not running ended ``reader sign-in`` in a traceback."""
    _, service, _, screen_code = kiosk

    class Gone(HandAtTheReader):
        def wait_for_card(self, timeout: float) -> bool:
            raise failure

    run = sign_in(service, screen_code, Gone())
    assert not run.signed_in
    assert run.said == [f"not signed in: {failure}: start again"]


def test_no_card_put_in_is_said(
    kiosk: tuple[VirtualKentCard, OnlineSignIn, requests.Session, str],
) -> None:
    _, service, _, screen_code = kiosk
    run = sign_in(service, screen_code, HandAtTheReader())
    assert not run.signed_in
    assert run.said == ["not signed in: no card in Kiosk reader 00 within 1 s: start again"]
    assert run.events == ["put the Kent Card in Kiosk reader 00"]
