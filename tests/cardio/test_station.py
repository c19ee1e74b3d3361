"""The reader station over scripted readers: decisions, pulled cards, odd cards, outages."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from cardio.cardnumber import mask
from cardio.connection import (
    CardConnection,
    CardRemovedError,
    ReaderUnavailableError,
    ServiceUnavailableError,
    TransportError,
)
from cardio.decision import Mode
from cardio.issuer import Issuer
from cardio.offline import DEFAULT_POLICY, OfflinePolicy, SnapshotDecisionSource
from cardio.snapshot import SnapshotKeyring, SnapshotStore
from cardio.snapshot_format import fingerprint
from cardio.station import ReaderStation, TapOutcome
from cardio.taplog import TapLog, read_log
from cardio.verify import authenticate
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


def run(
    script: list[CardConnection | Exception],
    issuer: Issuer,
    decisions: SnapshotDecisionSource,
    tmp_path: Path,
    mode: Mode = Mode.TRANSPORT,
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
