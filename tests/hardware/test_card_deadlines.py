"""Cards that do not answer, through real pcscd and vpcd: refused in time, next card decided.

pcscd waits for ever on a silent card in a vpcd reader (and on an empty answer frame, which
vpcd only passes on once the card sends more or leaves), so what ends these taps is the
reader's own deadline (``cardio.deadline``), at its default.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from cardio import spec
from cardio.deadline import TAP_DEADLINES
from cardio.issuer import Issuer
from cardio.pcsc import PcscReader
from cardio.station import CardFault
from hardware.card_state import CardStateFile
from hardware.faulty_card import Fault, FaultyCard
from hardware.rig import Pcscd
from hardware.virtual_card import Card, VirtualKentCard
from hardware.vpcd import EmptyFrameThen, VpcdCard
from idservice.cli.card import DEFAULT_APDU_DEADLINE_MS
from tests.hardware.conftest import READER, once_per_make_test
from tests.hardware.test_pcscd import KENTCARD, Watch, _env

pytestmark = pytest.mark.pcscd
SELECT, AUTHENTICATE = spec.INS_SELECT, spec.INS_INTERNAL_AUTHENTICATE
#: The longest a refused tap may take: the tap's whole card budget, and room for a
#: loaded test machine to schedule the station's thread.
LONGEST_MS = TAP_DEADLINES * DEFAULT_APDU_DEADLINE_MS + 100
WORDS = {fault.code: fault.words for fault in CardFault}


def swap(served: VpcdCard, card: Card, empty_frame_then: EmptyFrameThen = "close") -> None:
    """Take the card in the reader out, and put ``card`` in."""
    served.remove()
    reader = PcscReader(READER)
    try:
        # pcscd polls a vpcd reader whose last command was left blocked: on a loaded
        # machine it may take seconds to see the socket close.
        assert reader.wait_for_removal(15), "pcscd did not see the card leave"
    finally:
        reader.reset()
    time.sleep(0.5)  # and the station too, on a busy machine
    served.card = card
    served.empty_frame_then = empty_frame_then
    served.insert()


@pytest.mark.parametrize(
    "faults",
    [
        [
            (Fault.SILENT, SELECT, "close", "card_silent"),
            (Fault.SILENT, AUTHENTICATE, "close", "card_silent"),
            (Fault.EMPTY, AUTHENTICATE, "wait", "card_silent"),  # vpcd waits on an empty frame
        ],
        [
            (Fault.EMPTY, SELECT, "close", "card_empty_answer"),
            (Fault.EMPTY, AUTHENTICATE, "close", "card_empty_answer"),
            (Fault.ONE_BYTE, SELECT, "close", "card_no_status_word"),
            (Fault.ONE_BYTE, AUTHENTICATE, "close", "card_no_status_word"),
        ],
    ],
    ids=["silent", "empty-and-one-byte"],
)
def test_reader_watch_refuses_cards_that_do_not_answer_and_decides_the_next(
    served: VpcdCard,
    issuer_instance: tuple[Path, Issuer],
    faults: list[tuple[Fault, int, EmptyFrameThen, str]],
) -> None:
    once_per_make_test()
    instance, _ = issuer_instance
    genuine = served.card
    watch = Watch(instance, deadline_ms=DEFAULT_APDU_DEADLINE_MS)
    try:
        assert watch.wait_taps(1)[0]["decision"] in ("allow", "deny")
        for fault, on_ins, empty_frame_then, code in faults:
            swap(served, FaultyCard(genuine, fault, on_ins), empty_frame_then)
            seen = len(watch.taps)
            refused = watch.wait_taps(seen + 1)[seen]
            what = f"{fault} on {on_ins:02X}: {refused}"
            assert (refused["decision"], refused["code"]) == ("none", code), what
            assert refused["reason"] == WORDS[code], what
            assert refused["apdu_count"] == (1 if on_ins == SELECT else 2), what
            assert float(str(refused["elapsed_ms"])) < LONGEST_MS, what
            if code == "card_silent":
                assert float(str(refused["elapsed_ms"])) >= DEFAULT_APDU_DEADLINE_MS, what
            swap(served, genuine)
            decided = watch.wait_taps(seen + 2)[seen + 1]
            assert decided["decision"] in ("allow", "deny"), decided
            assert decided["apdu_count"] == 2, decided
        assert watch.process.poll() is None, "the station must still be running"
    finally:
        watch.stop()
    assert not any("Traceback" in event for event in watch.events), watch.events


def _tap_once(
    instance: Path, deadline_ms: int | None = None
) -> tuple[subprocess.CompletedProcess[str], float]:
    env = _env(instance)
    env.pop("KENTCARD_READER_APDU_DEADLINE_MS", None)
    if deadline_ms is not None:
        env["KENTCARD_READER_APDU_DEADLINE_MS"] = str(deadline_ms)
    started = time.monotonic()
    tap = subprocess.run(
        [*KENTCARD, "reader", "tap", "--once", "--json", "--reader", READER, "--timeout", "10"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return tap, time.monotonic() - started


def test_reader_tap_once_refuses_a_silent_card_and_exits(
    served: VpcdCard, issuer_instance: tuple[Path, Issuer]
) -> None:
    """The process exits with its refusal while its call on the card is still blocked in
    pcscd; a second reader process, whose connect pcscd holds behind that call, is refused
    in time too (its deadline set in the environment); once the card leaves, the next card
    is decided."""
    once_per_make_test()
    instance, _ = issuer_instance
    genuine = served.card
    swap(served, FaultyCard(genuine, Fault.SILENT, AUTHENTICATE))
    for attempt, deadline_ms in (("first", DEFAULT_APDU_DEADLINE_MS), ("second", 400)):
        tap, took = _tap_once(instance, None if attempt == "first" else deadline_ms)
        assert tap.returncode == 1, (attempt, tap.stdout, tap.stderr)
        shown = json.loads(tap.stdout)
        assert (shown["decision"], shown["code"]) == ("none", "card_silent"), attempt
        assert shown["reason"] == "card did not answer: tap again"
        assert deadline_ms <= shown["elapsed_ms"] < TAP_DEADLINES * deadline_ms + 100, shown
        assert took < 30, f"{attempt} reader process took {took:.1f} s to exit"
        assert "Traceback" not in tap.stderr, tap.stderr
    swap(served, genuine)
    tap, _ = _tap_once(instance)
    assert tap.returncode in (0, 1), tap.stderr
    shown = json.loads(tap.stdout)
    assert shown["decision"] in ("allow", "deny") and shown["apdu_count"] == 2, shown


def test_virtual_card_run_plays_a_broken_card(
    pcscd: Pcscd, card_state: Path, issuer_instance: tuple[Path, Issuer]
) -> None:
    """`kentcard virtual-card run --fault`: the broken cards by hand, without Python."""
    once_per_make_test()
    instance, _ = issuer_instance
    run = subprocess.Popen(
        [
            *KENTCARD,
            "virtual-card",
            "run",
            "--reader",
            "0",
            "--state",
            str(card_state),
            "--fault",
            "one-byte",
            "--fault-on",
            "authenticate",
        ],
        env=_env(instance),
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        tap, _ = _tap_once(instance)
    finally:
        run.terminate()
        _, said = run.communicate(timeout=10)
    assert "one-byte on authenticate" in said
    shown = json.loads(tap.stdout)
    assert (shown["code"], shown["apdu_count"]) == ("card_no_status_word", 2), shown


def test_a_card_stopped_as_soon_as_started_leaves_the_reader(
    pcscd: Pcscd, card_state: Path
) -> None:
    """A test that skips right after its card fixture started must not leave that card
    answering in the reader for the tests after it."""
    for _ in range(5):
        VpcdCard(VirtualKentCard.from_file(CardStateFile(card_state))).start().stop()
    time.sleep(1.5)  # a card that connected after stop() would be in the reader by now
    reader = PcscReader(READER)
    try:
        assert not reader.wait_for_card(0.5), "a stopped card is still in the reader"
    finally:
        reader.reset()
