"""BER-TLV (ISO/IEC 7816-4 annex D) as the Kent Card uses it.

Tags are kept as integers in their encoded form (``0x5F24``, ``0x7F21``) so they read the
same as in the specification tables. Parsing is strict: a card answer that is not exactly a
sequence of well-formed TLVs is an error, never a guess.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

MAX_TAG_BYTES = 3
MAX_LENGTH = 0xFFFFFF


class TlvError(ValueError):
    """The bytes are not well-formed BER-TLV."""


@dataclass(frozen=True)
class Tlv:
    """One data object: a tag and its value (children are parsed on demand)."""

    tag: int
    value: bytes

    @property
    def constructed(self) -> bool:
        """Bit 6 of the first tag byte marks a template holding further TLVs."""
        return bool(_first_tag_byte(self.tag) & 0x20)

    def children(self) -> list[Tlv]:
        if not self.constructed:
            raise TlvError(f"tag {self.tag:X} is primitive, it has no children")
        return parse(self.value)

    def encode(self) -> bytes:
        return encode(self.tag, self.value)


def _first_tag_byte(tag: int) -> int:
    return tag.to_bytes(_tag_size(tag), "big")[0]


def _tag_size(tag: int) -> int:
    if tag < 0:
        raise TlvError("negative tag")
    return max(1, (tag.bit_length() + 7) // 8)


def encode_length(length: int) -> bytes:
    if length < 0 or length > MAX_LENGTH:
        raise TlvError(f"length {length} out of range")
    if length < 0x80:
        return bytes([length])
    size = (length.bit_length() + 7) // 8
    return bytes([0x80 | size]) + length.to_bytes(size, "big")


def encode(tag: int, value: bytes) -> bytes:
    """Encode one TLV; ``value`` may itself be concatenated TLVs (a template)."""
    size = _tag_size(tag)
    if size > MAX_TAG_BYTES:
        raise TlvError(f"tag {tag:X} is longer than {MAX_TAG_BYTES} bytes")
    return tag.to_bytes(size, "big") + encode_length(len(value)) + bytes(value)


def encode_all(items: Iterable[tuple[int, bytes]]) -> bytes:
    return b"".join(encode(tag, value) for tag, value in items)


def _read_tag(data: bytes, pos: int) -> tuple[int, int]:
    if pos >= len(data):
        raise TlvError("truncated tag")
    first = data[pos]
    if first in (0x00, 0xFF):
        raise TlvError(f"invalid tag byte {first:02X} at offset {pos}")
    end = pos + 1
    if first & 0x1F == 0x1F:
        while True:
            if end >= len(data):
                raise TlvError("truncated multi-byte tag")
            byte = data[end]
            end += 1
            if end - pos > MAX_TAG_BYTES:
                raise TlvError(f"tag at offset {pos} is longer than {MAX_TAG_BYTES} bytes")
            if not byte & 0x80:
                break
    return int.from_bytes(data[pos:end], "big"), end


def _read_length(data: bytes, pos: int) -> tuple[int, int]:
    if pos >= len(data):
        raise TlvError("truncated length")
    first = data[pos]
    if first < 0x80:
        return first, pos + 1
    size = first & 0x7F
    if size == 0:
        raise TlvError("indefinite length is not allowed")
    if size > 3:
        raise TlvError(f"length field of {size} bytes is not supported")
    if pos + 1 + size > len(data):
        raise TlvError("truncated length")
    length = int.from_bytes(data[pos + 1 : pos + 1 + size], "big")
    if encode_length(length) != data[pos : pos + 1 + size]:
        # DER's rule: one encoding per length, so re-encoding gives back the signed bytes.
        raise TlvError("length is not in its shortest form")
    return length, pos + 1 + size


def parse(data: bytes) -> list[Tlv]:
    """Parse a concatenation of TLVs; raise :class:`TlvError` on anything malformed."""
    items: list[Tlv] = []
    pos = 0
    while pos < len(data):
        tag, pos = _read_tag(data, pos)
        length, pos = _read_length(data, pos)
        if pos + length > len(data):
            raise TlvError(f"tag {tag:X} claims {length} bytes, {len(data) - pos} remain")
        items.append(Tlv(tag, bytes(data[pos : pos + length])))
        pos += length
    return items


def parse_one(data: bytes, tag: int) -> Tlv:
    """Parse data that must be exactly one TLV with the given tag."""
    items = parse(data)
    if len(items) != 1 or items[0].tag != tag:
        raise TlvError(f"expected exactly one {tag:X} object")
    return items[0]


def to_dict(items: Sequence[Tlv], *, allowed: Iterable[int] | None = None) -> dict[int, bytes]:
    """Index TLVs by tag, refusing duplicates (and, if given, tags not in ``allowed``)."""
    allowed_set = set(allowed) if allowed is not None else None
    result: dict[int, bytes] = {}
    for item in items:
        if item.tag in result:
            raise TlvError(f"duplicate tag {item.tag:X}")
        if allowed_set is not None and item.tag not in allowed_set:
            raise TlvError(f"unexpected tag {item.tag:X}")
        result[item.tag] = item.value
    return result


def require(values: dict[int, bytes], tag: int) -> bytes:
    try:
        return values[tag]
    except KeyError:
        raise TlvError(f"missing tag {tag:X}") from None
