"""The signed offline list (``kentcard-offline-list/1``): its bytes, records and signature.

One format for the service that builds snapshots (``kentcard snapshots build``,
``GET /api/v1/snapshots/{mode}``) and the reader that checks them, so the two cannot drift.
The full specification, for reader vendors, is docs/readers.md; in short::

    "KCSNAP1\\n"                     8 bytes, the magic (format 1)
    header length H                4 bytes, big-endian
    header                         H bytes of UTF-8 JSON (HEADER_FIELDS, nothing else)
    body length B                  4 bytes, big-endian
    body                           removed fingerprints (8 bytes each), then records
    signature                      64 bytes: ECDSA P-256 / SHA-256 over everything
                                   before it, r || s (32 bytes each, big-endian)

A record (13 bytes) is a card's key fingerprint (:func:`fingerprint`: the first 8 bytes
of SHA-256 over the card's public key, the uncompressed point its certificate carries),
a code (a service index below ``0x80``, else a hotlist reason) and two days (``>H``,
days since 1970-01-01: the first and last valid day; ``0`` and ``0xFFFF`` for open
ends; both ``0`` on a hotlist record). Records are sorted by their bytes, so by card.

This module only reads and writes the bytes and checks their form
(:class:`SnapshotFormatError`); whether a signature verifies and whether a snapshot may
follow the one a reader holds is :mod:`cardio.snapshot`'s business.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from cryptography.hazmat.primitives.asymmetric import ec

from cardio.certificate import key_id_of, sign_raw

FORMAT = "kentcard-offline-list/1"
MAGIC = b"KCSNAP1\n"
FULL, DELTA = "full", "delta"
SIGNATURE_LENGTH = 64
FINGERPRINT_LENGTH = 8
RECORD = struct.Struct(">8sBHH")
RECORD_LENGTH = RECORD.size  # 13
NO_START, NO_END = 0, 0xFFFF
EPOCH = date(1970, 1, 1)
#: Codes at or above this are hotlist reasons; below, an index into ``services``.
HOTLIST_BASE = 0x80
#: Hotlist codes and the reason each stands for (``cancelled``: by the council, after a
#: death or an erasure; ``replaced``: a newer card was issued, for whatever reason).
HOTLIST_REASONS = {
    0x81: "lost",
    0x82: "stolen",
    0x83: "damaged",
    0x84: "replaced",
    0x85: "cancelled",
}
HOTLIST_CODES = {reason: code for code, reason in HOTLIST_REASONS.items()}
MAX_SERVICES = HOTLIST_BASE - 1
MAX_HEADER = 64 * 1024
#: The largest body a reader accepts: five million records, far above Kent's 1.6 million.
MAX_BODY = 5_000_000 * RECORD_LENGTH
HEADER_FIELDS = frozenset(
    {
        "format",
        "kind",
        "mode",
        "version",
        "base_version",
        "created_at",
        "key_id",
        "services",
        "removed",
        "records",
        "state_sha256",
    }
)
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
_HEX16 = re.compile(r"^[0-9a-f]{16}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_LENGTH = struct.Struct(">I")


class SnapshotFormatError(ValueError):
    """The bytes are not a well-formed ``kentcard-offline-list/1`` snapshot."""


def fingerprint(public_point: bytes) -> bytes:
    """What the list knows a card by: SHA-256 of its public key, first 8 bytes."""
    return hashlib.sha256(public_point).digest()[:FINGERPRINT_LENGTH]


def day_number(day: date | None, *, end: bool) -> int:
    """A date as the list stores it; None is an open start or end."""
    if day is None:
        return NO_END if end else NO_START
    number = day.toordinal() - EPOCH.toordinal()
    return min(max(number, NO_START + 1), NO_END - 1)


def day_of(number: int) -> date | None:
    if number in (NO_START, NO_END):
        return None
    return date.fromordinal(EPOCH.toordinal() + number)


def pack_record(fingerprint_: bytes, code: int, first: int = NO_START, last: int = NO_END) -> bytes:
    return RECORD.pack(fingerprint_, code, first, last)


def hotlist_record(fingerprint_: bytes, reason: str) -> bytes:
    return RECORD.pack(fingerprint_, HOTLIST_CODES[reason], 0, 0)


def state_digest(records: bytes) -> str:
    """``state_sha256``: SHA-256 over the records of the full list at a version."""
    return hashlib.sha256(records).hexdigest()


def timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Service:
    """What a service index in the records stands for: catalogue code and display name."""

    code: str
    name: str


@dataclass(frozen=True)
class SnapshotHeader:
    kind: str
    mode: str
    version: int
    base_version: int | None
    created_at: datetime
    key_id: str
    services: tuple[Service, ...]
    removed: int
    records: int
    state_sha256: str

    def to_json(self) -> dict[str, object]:
        return {
            "format": FORMAT,
            "kind": self.kind,
            "mode": self.mode,
            "version": self.version,
            "base_version": self.base_version,
            "created_at": timestamp(self.created_at),
            "key_id": self.key_id,
            "services": [{"code": s.code, "name": s.name} for s in self.services],
            "removed": self.removed,
            "records": self.records,
            "state_sha256": self.state_sha256,
        }


@dataclass(frozen=True)
class SignedSnapshot:
    """A decoded snapshot; :attr:`signed` and :attr:`signature` are what to verify."""

    header: SnapshotHeader
    removed: bytes  # sorted 8-byte fingerprints (deltas only)
    records: bytes  # sorted 13-byte records
    signed: bytes
    signature: bytes
    raw: bytes

    @property
    def kind(self) -> str:
        return self.header.kind

    @property
    def version(self) -> int:
        return self.header.version

    def removed_fingerprints(self) -> list[bytes]:
        step = FINGERPRINT_LENGTH
        return [self.removed[i : i + step] for i in range(0, len(self.removed), step)]


def encode(
    header: SnapshotHeader,
    removed: bytes,
    records: bytes,
    private_key: ec.EllipticCurvePrivateKey,
) -> bytes:
    """The signed bytes of a snapshot; ``header``'s counts and key id must match."""
    if header.key_id != key_id_of(private_key.public_key()).hex():
        raise ValueError("the header names another key than the one signing")
    if header.removed * FINGERPRINT_LENGTH != len(removed):
        raise ValueError("the header's removed count does not match the body")
    if header.records * RECORD_LENGTH != len(records):
        raise ValueError("the header's record count does not match the body")
    text = json.dumps(header.to_json(), sort_keys=True, separators=(",", ":")).encode()
    body = removed + records
    signed = MAGIC + _LENGTH.pack(len(text)) + text + _LENGTH.pack(len(body)) + body
    blob = signed + sign_raw(private_key, signed)
    decode(blob)  # never hand out what a reader would refuse as malformed
    return blob


def _fail(words: str) -> SnapshotFormatError:
    return SnapshotFormatError(words)


def _int(document: dict[str, object], name: str, minimum: int = 0) -> int:
    value = document[name]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _fail(f"header field {name} must be a whole number of at least {minimum}")
    return value


def _str(document: dict[str, object], name: str) -> str:
    value = document[name]
    if not isinstance(value, str) or not value:
        raise _fail(f"header field {name} must be a non-empty string")
    return value


def _services(value: object) -> tuple[Service, ...]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_SERVICES:
        raise _fail(f"header field services must list 1 to {MAX_SERVICES} services")
    services = []
    for entry in value:
        if (
            not isinstance(entry, dict)
            or set(entry) != {"code", "name"}
            or not all(isinstance(entry[k], str) and entry[k] for k in ("code", "name"))
        ):
            raise _fail("each service must be {code, name}, both non-empty strings")
        services.append(Service(entry["code"], entry["name"]))
    if len({s.code for s in services}) != len(services):
        raise _fail("a service is listed twice")
    return tuple(services)


def parse_header(text: bytes) -> SnapshotHeader:
    try:
        document = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _fail("the header is not UTF-8 JSON") from None
    if not isinstance(document, dict):
        raise _fail("the header is not a JSON object")
    if set(document) != HEADER_FIELDS:
        extra = sorted(set(document) - HEADER_FIELDS)
        missing = sorted(HEADER_FIELDS - set(document))
        raise _fail(f"the header's fields are wrong (missing {missing}, unknown {extra})")
    if document["format"] != FORMAT:
        raise _fail(f"not a {FORMAT} snapshot")
    kind = document["kind"]
    if kind not in (FULL, DELTA):
        raise _fail("header field kind must be full or delta")
    version = _int(document, "version", 1)
    base = document["base_version"]
    if kind == FULL:
        if base is not None:
            raise _fail("a full snapshot has no base_version")
    else:
        base = _int(document, "base_version", 0)
        if base > version:
            raise _fail("a delta's base_version is after its version")
    created = _str(document, "created_at")
    if not _TIME.match(created):
        raise _fail("created_at must be YYYY-MM-DDTHH:MM:SSZ")
    try:
        created_at = datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise _fail("created_at is not a real time") from None
    key_id = _str(document, "key_id")
    digest = _str(document, "state_sha256")
    if not _HEX16.match(key_id) or not _HEX64.match(digest):
        raise _fail("key_id must be 16 and state_sha256 64 lower-case hex digits")
    removed = _int(document, "removed")
    if kind == FULL and removed:
        raise _fail("a full snapshot removes nothing")
    return SnapshotHeader(
        kind=kind,
        mode=_str(document, "mode"),
        version=version,
        base_version=base,
        created_at=created_at,
        key_id=key_id,
        services=_services(document["services"]),
        removed=removed,
        records=_int(document, "records"),
        state_sha256=digest,
    )


def check_records(records: bytes, services: int) -> None:
    """Sorted, no record twice, known codes, and a card either hotlisted once or entitled."""
    previous = b""
    card, entitled, hotlisted = b"", False, False
    unpack = RECORD.unpack_from
    for offset in range(0, len(records), RECORD_LENGTH):
        record = records[offset : offset + RECORD_LENGTH]
        if record <= previous:
            raise _fail("records are not sorted, or a record is there twice")
        previous = record
        fp, code, first, last = unpack(record)
        if fp != card:
            card, entitled, hotlisted = fp, False, False
        if code >= HOTLIST_BASE:
            if code not in HOTLIST_REASONS or first or last:
                raise _fail(f"record {offset // RECORD_LENGTH} has an unknown hotlist code")
            if entitled or hotlisted:
                raise _fail("a card is hotlisted twice, or both hotlisted and entitled")
            hotlisted = True
        else:
            if code >= services or first > last:
                raise _fail(f"record {offset // RECORD_LENGTH} names no listed service")
            entitled = True


def check_fingerprints(removed: bytes) -> None:
    step = FINGERPRINT_LENGTH
    for offset in range(step, len(removed), step):
        if removed[offset : offset + step] <= removed[offset - step : offset]:
            raise _fail("removed fingerprints are not sorted, or one is there twice")


def decode(blob: bytes, *, check: bool = True) -> SignedSnapshot:
    """Split and check a snapshot's form; the signature is not verified here.

    ``check=False`` skips the record-by-record checks (order, codes): only for bytes this
    service signed itself and reads back from its own database.
    """
    view = memoryview(blob)
    if len(blob) < len(MAGIC) + 8 + SIGNATURE_LENGTH or bytes(view[:8]) != MAGIC:
        raise _fail("not a Kent Card offline list (wrong magic or too short)")
    (header_length,) = _LENGTH.unpack_from(blob, 8)
    if header_length > MAX_HEADER or 12 + header_length + 4 + SIGNATURE_LENGTH > len(blob):
        raise _fail("the header length is wrong")
    header = parse_header(bytes(view[12 : 12 + header_length]))
    body_at = 12 + header_length + 4
    (body_length,) = _LENGTH.unpack_from(blob, body_at - 4)
    if body_length > MAX_BODY or body_at + body_length + SIGNATURE_LENGTH != len(blob):
        raise _fail("the body length is wrong")
    removed_length = header.removed * FINGERPRINT_LENGTH
    if removed_length + header.records * RECORD_LENGTH != body_length:
        raise _fail("the body does not hold the counts the header gives")
    removed = bytes(view[body_at : body_at + removed_length])
    records = bytes(view[body_at + removed_length : body_at + body_length])
    if header.kind == DELTA and header.base_version == header.version and (removed or records):
        raise _fail("a delta to its own version must be empty")
    if check:
        check_fingerprints(removed)
        check_records(records, len(header.services))
    signed_end = body_at + body_length
    return SignedSnapshot(
        header=header,
        removed=removed,
        records=records,
        signed=bytes(view[:signed_end]),
        signature=bytes(view[signed_end:]),
        raw=blob,
    )


def group_by_card(records: bytes) -> Iterable[tuple[bytes, bytes]]:
    """(fingerprint, that card's records) in order, from sorted records."""
    start = 0
    total = len(records)
    while start < total:
        fp = records[start : start + FINGERPRINT_LENGTH]
        end = start + RECORD_LENGTH
        while end < total and records[end : end + FINGERPRINT_LENGTH] == fp:
            end += RECORD_LENGTH
        yield fp, records[start:end]
        start = end


def first_at_or_after(records: bytes, fp: bytes, low: int = 0) -> int:
    """Index of the first record whose card fingerprint is not below ``fp`` (sorted
    records; a binary search from record ``low``)."""
    high = len(records) // RECORD_LENGTH
    while low < high:
        middle = (low + high) // 2
        at = middle * RECORD_LENGTH
        if records[at : at + FINGERPRINT_LENGTH] < fp:
            low = middle + 1
        else:
            high = middle
    return low


def card_records(records: bytes, fp: bytes) -> bytes:
    """Every record of the card ``fp`` in sorted ``records`` (empty if none)."""
    start = end = first_at_or_after(records, fp) * RECORD_LENGTH
    while records[end : end + FINGERPRINT_LENGTH] == fp:
        end += RECORD_LENGTH
    return records[start:end]


def join_sorted(records: Sequence[bytes]) -> bytes:
    """Records (any order, no duplicates) as a sorted body."""
    return b"".join(sorted(records))
