"""Hypothesis: malformed APDUs to the card, malformed answers and TLV to the reader.

The card always answers a status word; the reader always ends in a clean, named error or
a decision, never an unexpected exception.
"""

from __future__ import annotations

import contextlib
from datetime import date
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cardio import certificate as cert
from cardio import spec, tlv
from cardio.apdu import ApduError, ApduFormatError, CommandApdu
from cardio.connection import split_response
from cardio.decision import Mode
from cardio.errors import MalformedResponseError
from cardio.issuer import Issuer
from cardio.offline import DEFAULT_POLICY, OfflinePolicy, SnapshotDecisionSource
from cardio.session import parse_select_answer
from cardio.snapshot import SnapshotKeyring, SnapshotStore
from cardio.station import CardFault, ReaderStation
from cardio.taplog import TapLog
from cardio.verify import TapRejected, authenticate
from hardware.virtual_card import InProcessConnection, VirtualKentCard
from tests.cardio.conftest import TODAY

FUZZ = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
KENT_INS = [0xA4, 0x88, 0x20, 0x24, 0x2C, 0x84, 0x46, 0xDA, 0x44, 0xC0]

apdu_like = st.one_of(
    st.binary(max_size=300),
    st.builds(
        lambda cla, ins, p1, p2, body: bytes([cla, ins, p1, p2]) + body,
        st.sampled_from([0x00, 0x00, 0x00, 0x80, 0x0C, 0x10, 0x01, 0xFF]),
        st.sampled_from(KENT_INS) | st.integers(0, 255),
        st.integers(0, 255),
        st.integers(0, 255),
        st.binary(max_size=280),
    ),
)


@FUZZ
@given(commands=st.lists(apdu_like, min_size=1, max_size=8))
def test_card_answers_every_command_with_a_status_word(
    card: VirtualKentCard, issuer: Issuer, commands: list[bytes]
) -> None:
    connection = InProcessConnection(card)
    select = CommandApdu(0, spec.INS_SELECT, 4, 0, spec.AID, 256).encode()
    for command in [select, *commands]:
        response = card.process(command)
        assert len(response) >= 2
        sw = int.from_bytes(response[-2:], "big")
        assert sw >> 12 in (0x6, 0x9), f"{command.hex()} -> {response.hex()}"
    # Whatever was sent, the card is still genuine and still taps.
    verified, _ = authenticate(connection, issuer.keyring(), TODAY)
    assert verified.card_number == card.state.card_data[2:10].hex()  # type: ignore[index]
    assert card.state.life_cycle == spec.LifeCycle.LOCKED


@FUZZ
@given(commands=st.lists(apdu_like, max_size=8))
def test_blank_card_never_personalised_by_noise(issuer: Issuer, commands: list[bytes]) -> None:
    card = VirtualKentCard.blank(issuer.personalisation_key.public_point)
    card.process(CommandApdu(0, spec.INS_SELECT, 4, 0, spec.AID, 256).encode())
    for command in commands:
        assert len(card.process(command)) >= 2
    assert card.state.private_key is None
    assert card.state.life_cycle == spec.LifeCycle.PERSONALISING


class Scripted:
    """A card answering from a list of (data, status word)."""

    def __init__(self, answers: list[tuple[bytes, int]]) -> None:
        self.answers = list(answers)

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        return self.answers.pop(0) if self.answers else (b"", 0x6F00)

    def disconnect(self) -> None:
        pass


answers = st.lists(
    st.tuples(
        st.binary(max_size=260),
        st.sampled_from([0x9000, 0x6A82, 0x6100, 0x6110, 0x6C10, 0x6983, 0x63C1])
        | st.integers(0, 0xFFFF),
    ),
    max_size=6,
)
CLEAN = (TapRejected, ApduError, MalformedResponseError)


@FUZZ
@given(script=answers)
def test_reader_survives_any_answers(issuer: Issuer, script: list[tuple[bytes, int]]) -> None:
    with contextlib.suppress(CLEAN):
        authenticate(Scripted(script), issuer.keyring(), TODAY)


@FUZZ
@given(data=st.data())
def test_reader_survives_mutated_genuine_answers(
    card: VirtualKentCard, issuer: Issuer, data: st.DataObject
) -> None:
    connection = InProcessConnection(card)
    select_data, _ = connection.transmit(
        CommandApdu(0, spec.INS_SELECT, 4, 0, spec.AID, 256).encode()
    )
    position = data.draw(st.integers(0, len(select_data) - 1))
    flipped = bytearray(select_data)
    flipped[position] ^= data.draw(st.integers(1, 255))
    cut = data.draw(st.integers(0, len(select_data)))
    forged = bytes(flipped)[: cut or None]
    auth = data.draw(st.binary(max_size=80))
    try:
        authenticate(Scripted([(forged, 0x9000), (auth, 0x9000)]), issuer.keyring(), TODAY)
    except CLEAN:
        return
    raise AssertionError("a mutated SELECT answer with a random signature was accepted")


@FUZZ
@given(raw=st.binary(max_size=400))
def test_parsers_fail_cleanly(raw: bytes) -> None:
    for parse, errors in (
        (tlv.parse, (tlv.TlvError,)),
        (cert.decode, (cert.CertificateError,)),
        (parse_select_answer, (MalformedResponseError,)),
        (CommandApdu.decode, (ApduFormatError,)),
    ):
        with contextlib.suppress(*errors):
            parse(raw)  # type: ignore[operator]


class RawAnswers:
    """A card answering raw frames from a list (any length, as pcscd hands them up)."""

    def __init__(self, frames: list[bytes]) -> None:
        self.frames = list(frames)

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        return split_response(self.frames.pop(0) if self.frames else b"\x6f\x00")

    def disconnect(self) -> None:
        pass


class OneCardReader:
    name = "fuzz"

    def __init__(self, card: Scripted | RawAnswers) -> None:
        self.card = card

    def wait_for_card(self, timeout: float) -> bool:
        return True

    def wait_for_removal(self, timeout: float) -> bool:
        return True

    def connect(self) -> Scripted | RawAnswers:
        return self.card

    def reset(self) -> None:
        pass


def fuzz_station(card: Scripted | RawAnswers, issuer: Issuer, tmp_path: Path) -> ReaderStation:
    return ReaderStation(
        OneCardReader(card),
        issuer.keyring(),
        SnapshotDecisionSource(
            SnapshotStore(tmp_path, "library", SnapshotKeyring()),
            OfflinePolicy.from_json(DEFAULT_POLICY),
        ),
        TapLog(tmp_path / "fuzz-taps.jsonl"),
        Mode.LIBRARY,
        today=lambda: date(2026, 1, 1),
        apdu_deadline=5.0,  # what is fuzzed is the answers, not their timing
    )


#: Every code a card the station does not understand may end in: named, never "error".
NAMED = {fault.code for fault in CardFault if fault is not CardFault.ERROR} | {
    "not_kent_card",
    "not_issued",
    "bad_check_digit",
    "bad_certificate",
    "unknown_issuer",
}


@FUZZ
@given(script=answers)
def test_station_always_logs_an_outcome(
    issuer: Issuer, tmp_path: Path, script: list[tuple[bytes, int]]
) -> None:
    outcome = fuzz_station(Scripted(script), issuer, tmp_path).tap()
    assert outcome.decision in ("deny", "none")
    assert outcome.code in NAMED


raw_frames = st.lists(
    st.one_of(
        st.binary(max_size=3),  # empty, one byte (no status word), a bare status word
        st.binary(max_size=260),
        st.builds(
            lambda data, sw: data + sw,
            st.binary(max_size=40),
            st.sampled_from([b"\x90\x00", b"\x61\x10", b"\x6c\x10", b"\x6a\x82"]),
        ),
    ),
    max_size=12,
)


@FUZZ
@given(frames=raw_frames)
def test_any_answer_frame_is_a_named_refusal(
    issuer: Issuer, tmp_path: Path, frames: list[bytes]
) -> None:
    outcome = fuzz_station(RawAnswers(frames), issuer, tmp_path).tap()
    assert outcome.decision in ("deny", "none")
    assert outcome.code in NAMED
