"""The SIP2 wire format: checksums, trailers, fields, and what cannot be read."""

from __future__ import annotations

import pytest

from idservice.sip2 import codec
from idservice.sip2.codec import BadChecksum, Malformed, Response


def test_checksums_match_published_examples() -> None:
    # Two checkin requests with their checksums, as another SIP2 client documents them.
    first = b"09N20160419    12200820160419    122008APReading Room 1|AO830|AB830$28170815|AC|AY2AZ"
    second = (
        b"09N20160419    12171320160419    121713APReading Room 1|AO830|AB830$28170815|AC|AY2AZ"
    )
    assert codec.checksum(first) == "EB80"
    assert codec.checksum(second) == "EB7C"
    assert codec.resend_request() == b"96AZFEF6\r"  # the specification's own example


def test_a_request_is_read_with_its_trailer() -> None:
    body = b"2300120261207    101500AOKENT|AA9826010000000018|AC|ADsecret|AY7AZ"
    request = codec.parse(body + codec.checksum(body).encode())
    assert request.command == "23"
    assert request.fixed == ("001", "20261207    101500")
    assert request.fields == {"AO": "KENT", "AA": "9826010000000018", "AC": "", "AD": "secret"}
    assert (request.sequence, request.checksummed) == (7, True)


def test_lenient_checksum_spelling_but_not_value() -> None:
    body = b"9900302.00AY1AZ"
    value = codec.checksum(body)
    assert codec.parse(body + value.lower().encode()).checksummed
    short = f"{int(value, 16):X}".encode()  # leading zeros dropped, as some clients do
    assert codec.parse(body + short).checksummed
    wrong = f"{(int(value, 16) + 1) & 0xFFFF:04X}".encode()
    with pytest.raises(BadChecksum):
        codec.parse(body + wrong)


@pytest.mark.parametrize(
    ("frame", "why"),
    [
        (b"", "shorter than a command"),
        (b"4", "shorter than a command"),
        (b"42xyz", "unknown command"),
        (b"\x16\x03\x01\x02\x00", "control characters"),  # a TLS ClientHello
        (b"23\xff\xfe", "not utf-8 text"),
        (b"23\x00\x01", "control characters"),
        (b"HELLO", "not a SIP2 message"),
        (b"23001", "fixed fields too short"),
        (b"230012026120|    101500AOK|AAX|", "fixed fields too short"),
        (b"9900302.00A|", "without a two-letter identifier"),
        (b"9900302.00AOx|" + b"AF" + b"x" * 256 + b"|", "longer than 255"),
    ],
)
def test_what_cannot_be_read_says_why(frame: bytes, why: str) -> None:
    with pytest.raises(Malformed, match=why):
        codec.parse(frame)


def test_missing_required_fields_are_named() -> None:
    request = codec.parse(b"2300120261207    101500AOKENT|")
    assert codec.missing_fields(request) == ["AA"]


def test_answers_never_carry_a_field_terminator_or_control_characters() -> None:
    response = Response("24", " " * 14 + "000" + codec.timestamp())
    response.add("AE", "O|Brien\r\n").add("AF", "x" * 300)
    frame = codec.encode(response, sequence=3, checksummed=True)
    assert frame.count(b"\r") == 1 and frame.endswith(b"\r")
    assert b"AEOBrien|" in frame
    assert len(frame.split(b"AF")[1].split(b"|")[0]) == 255
    body = frame[:-5]  # up to and including "AZ"
    assert frame[-5:-1].decode() == codec.checksum(body)
