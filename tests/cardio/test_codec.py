"""Encoders and decoders from tables of hex."""

from __future__ import annotations

from datetime import date

import pytest

from cardio import tlv
from cardio.apdu import ApduError, ApduFormatError, CommandApdu, ResponseApdu, sw_text
from cardio.cardnumber import (
    CardNumberError,
    from_bcd,
    has_valid_check_digit,
    luhn_check_digit,
    mask,
    to_bcd,
    validate,
)
from cardio.dates import decode_expiry, encode_expiry

COMMANDS = [
    # hex, cla, ins, p1, p2, data, ne           (ISO/IEC 7816-4 cases)
    ("00A40400", 0x00, 0xA4, 0x04, 0x00, "", 0),  # 1
    ("0084000010", 0x00, 0x84, 0x00, 0x00, "", 16),  # 2S
    ("00B0000000", 0x00, 0xB0, 0x00, 0x00, "", 256),  # 2S, Le 00 = 256
    ("0020008008313233FFFFFFFFFF", 0x00, 0x20, 0x00, 0x80, "313233FFFFFFFFFF", 0),  # 3S
    ("00A404000AF04B454E54434152440100", 0, 0xA4, 4, 0, "F04B454E544341524401", 256),  # 4S
    ("00B0000000FFFF", 0x00, 0xB0, 0x00, 0x00, "", 65535),  # 2E
]
EXTENDED_DATA = "AB" * 300
COMMANDS += [
    ("00B0000000" + "0000", 0x00, 0xB0, 0x00, 0x00, "", 65536),  # 2E, Le 0000 = 65536
    ("00DA3FFF00012C" + EXTENDED_DATA, 0x00, 0xDA, 0x3F, 0xFF, EXTENDED_DATA, 0),  # 3E
    ("0088000000012C" + EXTENDED_DATA + "0200", 0, 0x88, 0, 0, EXTENDED_DATA, 512),  # 4E
]


@pytest.mark.parametrize(("hex_apdu", "cla", "ins", "p1", "p2", "data", "ne"), COMMANDS)
def test_command_apdu_round_trip(
    hex_apdu: str, cla: int, ins: int, p1: int, p2: int, data: str, ne: int
) -> None:
    command = CommandApdu(cla, ins, p1, p2, bytes.fromhex(data), ne)
    assert command.encode() == bytes.fromhex(hex_apdu)
    assert CommandApdu.decode(bytes.fromhex(hex_apdu)) == command


@pytest.mark.parametrize(
    "hex_apdu",
    ["", "00A404", "00A4040002AA", "00A4040002AABBCCDD", "00A4040000000201", "00A4040000000101AA"],
)
def test_malformed_command_apdus_are_rejected(hex_apdu: str) -> None:
    with pytest.raises(ApduFormatError):
        CommandApdu.decode(bytes.fromhex(hex_apdu))


@pytest.mark.parametrize(
    ("hex_response", "data", "sw"),
    [("9000", "", 0x9000), ("01029000", "0102", 0x9000), ("63C2", "", 0x63C2)],
)
def test_response_apdu(hex_response: str, data: str, sw: int) -> None:
    response = ResponseApdu.decode(bytes.fromhex(hex_response))
    assert response == ResponseApdu(bytes.fromhex(data), sw)
    assert response.encode().hex().upper() == hex_response


def test_response_needs_a_status_word() -> None:
    with pytest.raises(ApduFormatError):
        ResponseApdu.decode(b"\x90")


@pytest.mark.parametrize(
    ("sw", "text"),
    [
        (0x9000, "9000 success"),
        (0x6983, "6983 PIN blocked"),
        (0x63C1, "63C1 wrong PIN, 1 tries left"),
        (0x6A82, "6A82 application not found"),
        (0x6110, "6110 16 more bytes available"),
        (0x6C08, "6C08 wrong Le, exact length is 8"),
        (0x6F12, "6F12 unknown status word"),
    ],
)
def test_status_word_names(sw: int, text: str) -> None:
    assert sw_text(sw) == text
    assert str(ApduError(sw)) == text


TLVS = [  # hex, tag, value
    ("8400", 0x84, ""),
    ("5A089826010000000018", 0x5A, "9826010000000018"),
    ("5F2403300331", 0x5F24, "300331"),
    ("7F2100", 0x7F21, ""),
    ("DF010101", 0xDF01, "01"),
    ("537F" + "00" * 127, 0x53, "00" * 127),
    ("538180" + "00" * 128, 0x53, "00" * 128),
    ("53820100" + "00" * 256, 0x53, "00" * 256),
]


@pytest.mark.parametrize(("hex_tlv", "tag", "value"), TLVS)
def test_tlv_round_trip(hex_tlv: str, tag: int, value: str) -> None:
    encoded = tlv.encode(tag, bytes.fromhex(value))
    assert encoded.hex().upper() == hex_tlv.upper()
    assert tlv.parse(encoded) == [tlv.Tlv(tag, bytes.fromhex(value))]


def test_tlv_template_children() -> None:
    template = tlv.parse_one(bytes.fromhex("6F0A840101A505DF01010199"), 0x6F)
    assert template.constructed
    assert [child.tag for child in template.children()] == [0x84, 0xA5]
    with pytest.raises(tlv.TlvError):
        template.children()[0].children()  # 84 is primitive


@pytest.mark.parametrize(
    ("hex_tlv", "why"),
    [
        ("5A", "truncated length"),
        ("5A02AA", "claims 2 bytes"),
        ("5F", "truncated multi-byte tag"),
        ("5A80", "indefinite"),
        ("5A8101AA", "shortest form"),
        ("5A84000000010", "not supported"),
        ("00", "invalid tag"),
        ("5FFFFFFF0100", "longer than 3"),
    ],
)
def test_malformed_tlv(hex_tlv: str, why: str) -> None:
    with pytest.raises(tlv.TlvError, match=why):
        tlv.parse(bytes.fromhex(hex_tlv if len(hex_tlv) % 2 == 0 else hex_tlv + "0"))


def test_duplicate_and_unexpected_tags() -> None:
    items = tlv.parse(bytes.fromhex("5A01115A0122"))
    with pytest.raises(tlv.TlvError, match="duplicate"):
        tlv.to_dict(items)
    with pytest.raises(tlv.TlvError, match="unexpected"):
        tlv.to_dict(items[:1], allowed=[0x84])


@pytest.mark.parametrize(
    ("payload", "digit"),
    [("7992739871", "3"), ("453201511283036", "6"), ("982601000000001", "0"), ("0", "0")],
)
def test_luhn_check_digit(payload: str, digit: str) -> None:
    assert luhn_check_digit(payload) == digit
    assert has_valid_check_digit(payload + digit)
    wrong = str((int(digit) + 1) % 10)
    assert not has_valid_check_digit(payload + wrong)


@pytest.mark.parametrize("bad", ["98260100000000a8", "1234567", "9" * 20, "\uff19" * 16])
def test_validate_refuses_malformed_numbers(bad: str) -> None:
    with pytest.raises(CardNumberError):
        validate(bad)


@pytest.mark.parametrize(
    ("number", "bcd", "masked"),
    [
        ("9826010000000018", "9826010000000018", "982601******0018"),
        ("982601000000000017", "982601000000000017", "982601********0017"),
        ("9826010000000000019", "9826010000000000019F", "982601*********0019"),
    ],
)
def test_bcd_and_mask(number: str, bcd: str, masked: str) -> None:
    assert to_bcd(number).hex().upper() == bcd
    assert from_bcd(bytes.fromhex(bcd)) == number
    assert mask(number) == masked


@pytest.mark.parametrize("bad", ["98260100000000AB", "F826010000000018", "1234"])
def test_bcd_refuses_non_digits(bad: str) -> None:
    with pytest.raises(CardNumberError):
        from_bcd(bytes.fromhex(bad))


@pytest.mark.parametrize(("value", "hex_date"), [(date(2030, 3, 31), "300331")])
def test_expiry(value: date, hex_date: str) -> None:
    assert encode_expiry(value).hex() == hex_date
    assert decode_expiry(bytes.fromhex(hex_date)) == value
    with pytest.raises(ValueError):
        decode_expiry(bytes.fromhex("301331"))
