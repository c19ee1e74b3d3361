"""The protocol layer's bounds: 6CXX resends and GET RESPONSE chains end where it says."""

from __future__ import annotations

import pytest

from cardio import spec
from cardio.apdu import ApduError, CommandApdu
from cardio.errors import CardProtocolError
from cardio.protocol import MAX_GET_RESPONSES, MAX_RESENDS, ApduProtocol

SELECT = CommandApdu(spec.CLA, spec.INS_SELECT, 4, 0, spec.AID, 256)


class Answers:
    """A card double answering from a list, then the last answer for ever; records commands."""

    def __init__(self, *answers: tuple[bytes, int]) -> None:
        self.answers = list(answers)
        self.commands: list[bytes] = []

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        self.commands.append(apdu)
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]

    def disconnect(self) -> None:
        pass


def test_get_response_chain_is_followed_up_to_the_bound() -> None:
    chunks = [bytes([n]) * 32 for n in range(MAX_GET_RESPONSES + 1)]
    card = Answers(*[(chunk, 0x6120) for chunk in chunks[:-1]], (chunks[-1], 0x9000))
    protocol = ApduProtocol(card)
    assert protocol.send(SELECT) == b"".join(chunks)
    assert protocol.apdu_count == 1 + MAX_GET_RESPONSES
    get_response = CommandApdu(0, spec.INS_GET_RESPONSE, 0, 0, ne=0x20).encode()
    assert card.commands[1:] == [get_response] * MAX_GET_RESPONSES


def test_endless_get_response_chain_is_refused_at_the_bound() -> None:
    card = Answers((b"\x00" * 16, 0x6110))
    protocol = ApduProtocol(card)
    with pytest.raises(CardProtocolError, match=f"after {MAX_GET_RESPONSES} GET RESPONSEs"):
        protocol.send(SELECT)
    assert protocol.apdu_count == 1 + MAX_GET_RESPONSES


def test_wrong_le_is_resent_once_with_the_length_the_card_named() -> None:
    card = Answers((b"", 0x6C05), (b"hello", 0x9000))
    protocol = ApduProtocol(card)
    assert protocol.send(SELECT) == b"hello"
    assert CommandApdu.decode(card.commands[1]).ne == 5
    assert protocol.apdu_count == 1 + MAX_RESENDS


def test_a_second_wrong_le_is_refused() -> None:
    card = Answers((b"", 0x6C05))
    protocol = ApduProtocol(card)
    with pytest.raises(CardProtocolError, match=f"after {MAX_RESENDS} resend"):
        protocol.send(SELECT)
    assert protocol.apdu_count == 1 + MAX_RESENDS


def test_a_resend_may_still_chain_and_a_failing_chain_keeps_its_status_word() -> None:
    card = Answers((b"", 0x6C02), (b"ab", 0x6102), (b"cd", 0x9000))
    assert ApduProtocol(card).send(SELECT) == b"abcd"
    card = Answers((b"ab", 0x6102), (b"", 0x6F00))
    with pytest.raises(ApduError) as caught:
        ApduProtocol(card).send(SELECT)
    assert caught.value.sw == 0x6F00
