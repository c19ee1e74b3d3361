"""The SIP2 2.00 wire format, for the messages the bridge answers (docs/sip2.md).

A message is one line ended by a carriage return: a two-digit command, fixed-length
fields, then variable-length fields, each a two-letter identifier and a value ended by
``|``. With error detection on, the message ends with ``AY`` and a one-digit sequence
number, then ``AZ`` and a four-hex-digit checksum: the two's complement of the sum of
every byte before it, ``AZ`` included, to 16 bits.

:func:`parse` reads one frame (without its carriage return) into a :class:`Request` or
raises :class:`Malformed` (:class:`BadChecksum` for a checksum that does not add up);
:class:`Response` builds an answer and :func:`encode` frames it, with the request's
sequence number and a checksum when the request had them. No Flask, no database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

FIELD_END = "|"
MESSAGE_END = b"\r"
#: A variable-length field holds at most this many characters (SIP2 2.00).
MAX_FIELD = 255

#: The error-detection trailer: ``AY`` + digit (optional) + ``AZ`` + checksum. Some
#: kiosk clients drop a checksum's leading zeros or write it in lower case; the value,
#: not the spelling, is checked.
_TRAILER = re.compile(rb"(?:AY([0-9]))?AZ([0-9A-Fa-f]{1,4})\Z")
_SEQUENCE_ONLY = re.compile(rb"AY([0-9])\Z")
_FIELD_ID = re.compile(r"[A-Z]{2}\Z")
#: Identifiers only the trailer uses: seen as a field, the trailer was damaged.
_TRAILER_IDS = ("AY", "AZ")


class Malformed(ValueError):
    """A frame the bridge cannot read; the message says why (for the log, never a value)."""


class BadChecksum(Malformed):
    """A frame whose checksum does not add up: answered with ``96`` (please resend)."""


def checksum(data: bytes) -> str:
    """The four hex digits for ``data`` (everything up to and including ``AZ``)."""
    return f"{-sum(data) & 0xFFFF:04X}"


@dataclass(frozen=True)
class Fixed:
    """One request's layout: the lengths of its fixed fields, in order, and the
    variable fields it must carry."""

    lengths: tuple[int, ...]
    required: tuple[str, ...] = ()

    @property
    def length(self) -> int:
        return sum(self.lengths)


#: What the bridge reads, by command (SIP2 2.00). Item transactions are read only as far
#: as answering them "not here" needs.
LAYOUTS: dict[str, Fixed] = {
    "93": Fixed((1, 1), ("CN", "CO")),  # login: UID and PWD algorithms
    "99": Fixed((1, 3, 4)),  # SC status: status code, print width, protocol version
    "97": Fixed(()),  # request ACS resend
    "23": Fixed((3, 18), ("AO", "AA")),  # patron status: language, transaction date
    "63": Fixed((3, 18, 10), ("AO", "AA")),  # patron information: ... summary
    "35": Fixed((18,), ("AO", "AA")),  # end patron session: transaction date
    "11": Fixed((1, 1, 18, 18)),  # checkout
    "09": Fixed((1, 18, 18)),  # checkin
    "29": Fixed((1, 1, 18, 18)),  # renew
    "65": Fixed((18,)),  # renew all
    "17": Fixed((18,)),  # item information
}


@dataclass(frozen=True)
class Request:
    """A request as read: its command, fixed fields, variable fields (first value of
    each identifier), and the error-detection trailer it came with."""

    command: str
    fixed: tuple[str, ...]
    fields: dict[str, str]
    sequence: int | None
    checksummed: bool
    raw: bytes = b""

    def get(self, name: str, default: str = "") -> str:
        return self.fields.get(name, default)


def split_trailer(frame: bytes) -> tuple[bytes, int | None, bool]:
    """The frame without its trailer, the sequence number, and whether it had a checksum;
    :class:`BadChecksum` when the checksum is wrong."""
    found = _TRAILER.search(frame)
    if found is not None:
        sequence = int(found[1]) if found[1] is not None else None
        covered = frame[: found.end(2) - len(found[2])]  # up to and including "AZ"
        if int(found[2], 16) != int(checksum(covered), 16):
            raise BadChecksum("checksum does not add up")
        return frame[: found.start()], sequence, True
    only = _SEQUENCE_ONLY.search(frame)
    if only is not None:
        return frame[: only.start()], int(only[1]), False
    return frame, None, False


def parse(frame: bytes, encoding: str = "utf-8") -> Request:
    """Read one frame (its carriage return already taken off)."""
    body, sequence, checksummed = split_trailer(frame)
    if len(body) < 2:
        raise Malformed("shorter than a command")
    try:
        text = body.decode(encoding)
    except UnicodeDecodeError:
        raise Malformed(f"not {encoding} text") from None
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text):
        raise Malformed("control characters in the message")
    command = text[:2]
    layout = LAYOUTS.get(command)
    if layout is None:
        raise Malformed("unknown command" if command.isdigit() else "not a SIP2 message")
    rest = text[2:]
    if len(rest) < layout.length or FIELD_END in rest[: layout.length]:
        raise Malformed(f"message {command}: fixed fields too short")
    fixed, start = [], 0
    for width in layout.lengths:
        fixed.append(rest[start : start + width])
        start += width
    fields = _variable_fields(command, rest[start:])
    return Request(command, tuple(fixed), fields, sequence, checksummed, frame)


def _variable_fields(command: str, text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    if not text:
        return fields
    parts = text.split(FIELD_END)
    if parts[-1] == "":
        parts.pop()  # the last field's own terminator
    for part in parts:
        name = part[:2]
        if len(part) < 2 or _FIELD_ID.match(name) is None:
            raise Malformed(f"message {command}: a field without a two-letter identifier")
        if name in _TRAILER_IDS:  # a trailer that did not read as one: damaged
            raise BadChecksum("error-detection trailer damaged")
        if len(part) - 2 > MAX_FIELD:
            raise Malformed(f"message {command}: field {name} longer than {MAX_FIELD}")
        fields.setdefault(name, part[2:])
    return fields


def missing_fields(request: Request) -> list[str]:
    """The required variable fields the request lacks."""
    return [name for name in LAYOUTS[request.command].required if name not in request.fields]


def timestamp(now: datetime | None = None) -> str:
    """A SIP2 date and time (18 characters), in UTC: ``YYYYMMDD   ZHHMMSS``."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    return now.strftime("%Y%m%d") + "   Z" + now.strftime("%H%M%S")


def clean(value: str) -> str:
    """A value safe inside a variable field: no field terminator, no control characters,
    at most :data:`MAX_FIELD` characters."""
    kept = "".join(ch for ch in value if ch >= " " and ch != FIELD_END and ch != "\x7f")
    return kept[:MAX_FIELD]


@dataclass
class Response:
    """An answer under construction: the command, its fixed part, then fields in order."""

    command: str
    fixed: str = ""
    fields: list[tuple[str, str]] = field(default_factory=list)

    def add(self, name: str, value: str) -> Response:
        self.fields.append((name, clean(value)))
        return self

    def text(self) -> str:
        return self.command + self.fixed + "".join(f"{n}{v}{FIELD_END}" for n, v in self.fields)


def encode(
    response: Response | str,
    *,
    sequence: int | None = None,
    checksummed: bool = False,
    encoding: str = "utf-8",
) -> bytes:
    """Frame an answer: the text, the request's sequence number and a checksum when the
    request had them, and the carriage return. Characters the encoding cannot carry
    become ``?``."""
    text = response if isinstance(response, str) else response.text()
    data = text.encode(encoding, errors="replace")
    if sequence is not None:
        data += f"AY{sequence}".encode("ascii")
    if checksummed:
        data += b"AZ"
        data += checksum(data).encode("ascii")
    return data + MESSAGE_END


def resend_request() -> bytes:
    """``96``, request SC resend, always with its checksum (it has no sequence number)."""
    return encode("96", checksummed=True)
