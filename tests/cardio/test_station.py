"""The reader station over scripted readers: decisions, pulled cards, odd cards, outages."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cardio import spec
from cardio.apdu import sw_text
from cardio.cardnumber import mask
from cardio.connection import (
    CardConnection,
    CardRemovedError,
    ReaderUnavailableError,
    ServiceUnavailableError,
    TransportError,
)
from cardio.deadline import TAP_DEADLINES
from cardio.decision import Mode
from cardio.issuer import Issuer
from cardio.offline import DEFAULT_POLICY, OfflinePolicy, SnapshotDecisionSource
from cardio.protocol import MAX_GET_RESPONSES
from cardio.snapshot import SnapshotKeyring, SnapshotStore
from cardio.snapshot_format import fingerprint
from cardio.station import CardFault, ReaderStation, TapOutcome
from cardio.taplog import TapLog, read_log
from cardio.verify import authenticate
from hardware.faulty_card import Fault, FaultyCard
from hardware.virtual_card import InProcessConnection, VirtualKentCard
from tests.cardio.conftest import CARD_NUMBER, TODAY
from tests.cardio.offline_lists import CREATED, LIBRARY, ListSigner, body, grant, hotlist


class ScriptedReader:
    """A reader whose cards (or failures) come from a list, one per tap."""

    name = "Scripted 00"

    def __init__(self, script: list[CardConnection | Exception]) -> None:
        self.script: Iterator[CardConnection | Exception] = iter(script)
        self.current: CardConnection | Exception | None = None
        self.resets = 0

    def wait_for_card(self, timeout: float) -> bool:
        self.current = next(self.script, None)
        if self.current is None:
            raise StopIteration
        if isinstance(self.current, TransportError) and not isinstance(
            self.current, CardRemovedError
        ):
            raise self.current
        return True

    def wait_for_removal(self, timeout: float) -> bool:
        return True

    def connect(self) -> CardConnection:
        if isinstance(self.current, Exception):
            raise self.current
        assert self.current is not None
        return self.current

    def reset(self) -> None:
        self.resets += 1


class PulledMidTap:
    """Answers SELECT from a real card, then the card leaves the field."""

    def __init__(self, card: VirtualKentCard) -> None:
        self.inner = InProcessConnection(card)

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        if apdu[1] == 0x88:
            raise CardRemovedError("card removed")
        return self.inner.transmit(apdu)

    def disconnect(self) -> None:
        raise CardRemovedError("already gone")


class OtherCard:
    def __init__(self, sw: int = 0x6A82, data: bytes = b"") -> None:
        self.sw, self.data = sw, data

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        return self.data, self.sw

    def disconnect(self) -> None:
        pass


def card_fp(card: VirtualKentCard, issuer: Issuer) -> bytes:
    """The key fingerprint the offline list knows ``card`` by."""
    verified, _ = authenticate(InProcessConnection(card), issuer.keyring(), TODAY)
    assert verified.public_point is not None
    return fingerprint(verified.public_point)


class OfflineReader:
    """A reader folder holding a signed list for one mode, as a decision source."""

    def __init__(self, folder: Path, mode: str, signer: ListSigner) -> None:
        self.signer = signer
        keyring = SnapshotKeyring.from_json(signer.public_export())
        self.store = SnapshotStore(folder, mode, keyring)
        self.records = b""
        self.version = 0

    def hold(self, records: bytes) -> None:
        """The service's next version: a full list first, then deltas."""
        self.version += 1
        if self.version == 1:
            blob = self.signer.full(1, records)
        else:
            blob = self.signer.delta(self.version - 1, self.version, self.records, records)
        self.store.accept(blob)
        self.records = records

    def source(self) -> SnapshotDecisionSource:
        return SnapshotDecisionSource(
            self.store, OfflinePolicy.from_json(DEFAULT_POLICY), now=lambda: CREATED
        )


@pytest.fixture
def offline(card: VirtualKentCard, issuer: Issuer, tmp_path: Path) -> OfflineReader:
    reader = OfflineReader(tmp_path / "reader", "transport", ListSigner())
    reader.hold(body(grant(card_fp(card, issuer), 0)))
    return reader


@pytest.fixture
def decisions(offline: OfflineReader) -> SnapshotDecisionSource:
    return offline.source()


#: For the tests that are not about time: a deadline no loaded test machine reaches (the
#: 150 ms default was reached by one tap in 1,536 with the suite running beside it).
UNTIMED = 5.0


def run(
    script: list[CardConnection | Exception],
    issuer: Issuer,
    decisions: SnapshotDecisionSource,
    tmp_path: Path,
    mode: Mode = Mode.TRANSPORT,
    apdu_deadline: float = UNTIMED,
) -> tuple[list[TapOutcome], list[str], ScriptedReader]:
    reader = ScriptedReader(script)
    station = ReaderStation(
        reader,
        issuer.keyring(),
        decisions,
        TapLog(tmp_path / "taps.jsonl"),
        mode,
        location="Maidstone bus station",
        today=lambda: TODAY,
        apdu_deadline=apdu_deadline,
    )
    taps: list[TapOutcome] = []
    events: list[str] = []
    with pytest.raises(StopIteration):
        station.watch(taps.append, events.append, threading.Event())
    return taps, events, reader


def test_allow_deny_and_hotlist_from_the_signed_list(
    card: VirtualKentCard,
    issuer: Issuer,
    offline: OfflineReader,
    decisions: SnapshotDecisionSource,
    tmp_path: Path,
) -> None:
    taps, _, _ = run([InProcessConnection(card)], issuer, decisions, tmp_path)
    assert taps[0].decision == "allow"
    assert taps[0].entitlement == "bus-pass-older"
    assert taps[0].reason == "Older person's bus pass is valid"
    assert taps[0].apdu_count == 2 and not taps[0].flagged
    assert taps[0].display_record()["card_number"] == mask(CARD_NUMBER)
    taps, _, _ = run([InProcessConnection(card)], issuer, decisions, tmp_path, Mode.LIBRARY)
    assert (taps[0].decision, taps[0].code) == ("deny", "no_offline_list")  # no library list
    offline.hold(body(hotlist(card_fp(card, issuer), "stolen")))  # the next delta
    taps, _, _ = run([InProcessConnection(card)], issuer, decisions, tmp_path)
    assert (taps[0].decision, taps[0].code) == ("deny", "hotlisted")
    assert taps[0].reason == "card reported stolen: keep the card"
    logged = read_log(tmp_path / "taps.jsonl")
    assert [r["decision"] for r in logged] == ["allow", "deny", "deny"]
    assert logged[0]["card_number"] == CARD_NUMBER  # the log keeps the whole number
    assert logged[0]["location"] == "Maidstone bus station"
    assert logged[0]["flagged"] is False


def test_expired_entitlement(card: VirtualKentCard, issuer: Issuer, tmp_path: Path) -> None:
    library = OfflineReader(tmp_path / "reader", "library", ListSigner("library", services=LIBRARY))
    library.hold(body(grant(card_fp(card, issuer), 0, last=TODAY.replace(year=2025))))
    taps, _, _ = run([InProcessConnection(card)], issuer, library.source(), tmp_path, Mode.LIBRARY)
    assert (taps[0].decision, taps[0].code) == ("deny", "entitlement_expired")


def test_station_keeps_going_through_pulled_cards_odd_cards_and_outages(
    card: VirtualKentCard, issuer: Issuer, decisions: SnapshotDecisionSource, tmp_path: Path
) -> None:
    script: list[CardConnection | Exception] = [
        PulledMidTap(card),
        OtherCard(0x6A82),  # a bank card: no Kent Card application
        OtherCard(0x9000, b"\x6f\x03\x84\x01\x00"),  # answers SELECT with nonsense
        OtherCard(0x6F00),
        ServiceUnavailableError("pcscd is not answering"),
        TransportError("Access denied"),  # seen from pcsc-lite while pcscd restarts
        ReaderUnavailableError("reader unplugged"),
        CardRemovedError("card left before connect"),
        InProcessConnection(card),
    ]
    taps, events, reader = run(script, issuer, decisions, tmp_path)
    assert [(t.decision, t.code) for t in taps] == [
        ("none", "card_removed"),
        ("deny", "not_kent_card"),
        ("deny", "not_kent_card"),
        ("deny", "not_kent_card"),
        ("none", "card_removed"),
        ("allow", "entitled"),
    ]
    assert taps[1].reason == "not a Kent Card"
    assert reader.resets == 3
    assert any("pcscd is not answering" in event for event in events)
    assert len(read_log(tmp_path / "taps.jsonl")) == 6


def test_card_error_names_the_status_word(
    card: VirtualKentCard, issuer: Issuer, decisions: SnapshotDecisionSource, tmp_path: Path
) -> None:
    class FailsAuthenticate(InProcessConnection):
        def transmit(self, apdu: bytes) -> tuple[bytes, int]:
            if apdu[1] == 0x88:
                return b"", 0x6400
            return super().transmit(apdu)

    taps, _, _ = run([FailsAuthenticate(card)], issuer, decisions, tmp_path)
    assert (taps[0].decision, taps[0].code) == ("none", "card_error")
    assert taps[0].reason.startswith("card answered 6400 execution error")


# -- cards that do not answer, or answer no response APDU ------------------------------------

SELECT, AUTHENTICATE = spec.INS_SELECT, spec.INS_INTERNAL_AUTHENTICATE
#: A deadline with room for a loaded test machine, and a card taking 40% of it per answer.
ROOMY, SLOW = 0.5, 0.2


@pytest.mark.parametrize(
    ("fault", "on_ins", "code", "apdus"),
    [
        (Fault.SILENT, SELECT, "card_silent", 1),
        (Fault.SILENT, AUTHENTICATE, "card_silent", 2),
        (Fault.EMPTY, SELECT, "card_empty_answer", 1),
        (Fault.EMPTY, AUTHENTICATE, "card_empty_answer", 2),
        (Fault.ONE_BYTE, SELECT, "card_no_status_word", 1),
        (Fault.ONE_BYTE, AUTHENTICATE, "card_no_status_word", 2),
    ],
)
def test_a_card_that_does_not_answer_is_refused_in_time_and_the_next_card_decided(
    card: VirtualKentCard,
    issuer: Issuer,
    decisions: SnapshotDecisionSource,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    fault: Fault,
    on_ins: int,
    code: str,
    apdus: int,
) -> None:
    broken = InProcessConnection(FaultyCard(card, fault, on_ins))
    deadline = 0.1
    try:
        taps, _, reader = run(
            [broken, InProcessConnection(card)], issuer, decisions, tmp_path, apdu_deadline=deadline
        )
    finally:
        broken.remove()  # a silent card's blocked call ends when the card leaves the field
    refused, next_card = taps
    words = {f.code: f.words for f in CardFault}
    assert (refused.decision, refused.code, refused.reason) == ("none", code, words[code])
    assert refused.reason.endswith("tap again")
    assert refused.apdu_count == apdus
    assert refused.elapsed_ms < TAP_DEADLINES * deadline * 1000 + 100
    if fault is Fault.SILENT:
        assert refused.elapsed_ms >= deadline * 1000
        assert reader.resets == 1  # the blocked call keeps its context; the reader starts afresh
    else:
        assert reader.resets == 0
    assert (next_card.decision, next_card.code, next_card.apdu_count) == ("allow", "entitled", 2)
    assert not [r for r in caplog.records if r.levelname == "ERROR"]  # no traceback logged
    assert [r["code"] for r in read_log(tmp_path / "taps.jsonl")] == [code, "entitled"]


def test_a_card_that_answers_slowly_within_the_deadline_is_decided(
    card: VirtualKentCard, issuer: Issuer, decisions: SnapshotDecisionSource, tmp_path: Path
) -> None:
    class Slow(InProcessConnection):
        def transmit(self, apdu: bytes) -> tuple[bytes, int]:
            time.sleep(SLOW)
            return super().transmit(apdu)

    taps, _, _ = run([Slow(card)], issuer, decisions, tmp_path, apdu_deadline=ROOMY)
    assert (taps[0].decision, taps[0].apdu_count) == ("allow", 2)
    assert taps[0].elapsed_ms >= 2 * SLOW * 1000


def test_a_card_that_drips_its_answer_is_refused_within_the_tap_budget(
    issuer: Issuer, decisions: SnapshotDecisionSource, tmp_path: Path
) -> None:
    class Dripping:
        """Every answer in time, each one "more bytes available", for ever."""

        def transmit(self, apdu: bytes) -> tuple[bytes, int]:
            time.sleep(SLOW)
            return b"\x00" * 16, 0x6110

        def disconnect(self) -> None:
            pass

    taps, _, _ = run([Dripping()], issuer, decisions, tmp_path, apdu_deadline=ROOMY)
    assert (taps[0].decision, taps[0].code) == ("none", "card_too_slow")
    assert taps[0].elapsed_ms < TAP_DEADLINES * ROOMY * 1000 + 150


def test_a_connect_that_never_returns_is_refused_as_silent(
    card: VirtualKentCard, issuer: Issuer, decisions: SnapshotDecisionSource, tmp_path: Path
) -> None:
    """pcscd holds SCardConnect on a reader whose last card call is still blocked."""
    released = threading.Event()

    class Stuck(ScriptedReader):
        def connect(self) -> CardConnection:
            if self.resets == 0:
                released.wait(10)
            return super().connect()

    reader = Stuck([InProcessConnection(card), InProcessConnection(card)])
    station = ReaderStation(
        reader,
        issuer.keyring(),
        decisions,
        TapLog(tmp_path / "taps.jsonl"),
        Mode.TRANSPORT,
        today=lambda: TODAY,
        apdu_deadline=0.05,
    )
    try:
        with pytest.raises(StopIteration):
            taps: list[TapOutcome] = []
            station.watch(taps.append, lambda event: None, threading.Event())
    finally:
        released.set()
    assert [(t.code, t.apdu_count) for t in taps] == [("card_silent", 0), ("entitled", 2)]
    assert reader.resets == 1


@pytest.mark.parametrize(
    ("answers", "code"),
    [
        ([(b"\x00" * 16, 0x6110)], "card_protocol_error"),  # GET RESPONSE for ever
        ([(b"", 0x6C10)], "card_protocol_error"),  # "wrong Le" twice
    ],
)
def test_a_card_past_the_protocol_bounds_is_a_named_refusal(
    issuer: Issuer,
    decisions: SnapshotDecisionSource,
    tmp_path: Path,
    answers: list[tuple[bytes, int]],
    code: str,
) -> None:
    class Repeats(OtherCard):
        def transmit(self, apdu: bytes) -> tuple[bytes, int]:
            return answers[0]

    taps, _, _ = run([Repeats()], issuer, decisions, tmp_path)
    assert (taps[0].decision, taps[0].code) == ("none", code)
    assert taps[0].apdu_count <= 1 + MAX_GET_RESPONSES


def test_every_status_word_after_a_good_select_has_its_documented_outcome(
    card: VirtualKentCard, issuer: Issuer, decisions: SnapshotDecisionSource, tmp_path: Path
) -> None:
    """docs/card-protocol.md, "What the reader does with each answer", row by row."""

    class Answers(InProcessConnection):
        """The genuine card's SELECT; then ``sw`` to INTERNAL AUTHENTICATE and after."""

        def __init__(self, sw: int) -> None:
            super().__init__(card)
            self.sw = sw

        def transmit(self, apdu: bytes) -> tuple[bytes, int]:
            if apdu[1] == spec.INS_SELECT:
                return super().transmit(apdu)
            return b"", self.sw

    words = [sw1 << 8 | sw2 for sw1 in range(256) for sw2 in (0x00, 0x01, 0x10, 0x82, 0xC2, 0xFF)]
    taps, _, _ = run([Answers(sw) for sw in words], issuer, decisions, tmp_path)
    assert len(taps) == len(words)
    for sw, tap in zip(words, taps, strict=True):
        assert tap.decision in ("deny", "none")
        if sw == 0x9000:  # success, but no signature in the answer
            assert (tap.decision, tap.code) == ("deny", "not_kent_card")
        elif sw >> 8 in (0x61, 0x6C):  # followed within the bounds, then refused
            assert (tap.decision, tap.code) == ("none", "card_protocol_error"), hex(sw)
        else:
            assert (tap.decision, tap.code) == ("none", "card_error"), hex(sw)
            assert tap.reason == (
                f"card answered {sw_text(sw)}: tap again, or send the card to a Gateway"
            )


def test_every_outcome_without_a_decision_is_documented() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "card-protocol.md").read_text()
    table = doc[doc.index("### The reader's outcomes without a decision") :]
    for fault in CardFault:
        words = fault.words.replace("{sw}", "XXXX <name>")
        assert f'| `{fault.code}` | "{words}" |' in table, fault
