"""Command and response APDUs (ISO/IEC 7816-4 section 5), short and extended length.

``ne`` is the number of response bytes the command expects (0 = no Le field). Encoding picks
the short form whenever it fits; decoding accepts every case (1, 2S/E, 3S/E, 4S/E) and
rejects anything else with :class:`ApduFormatError`, so a card emulator can answer 6700.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

SHORT_MAX_LC = 255
SHORT_MAX_NE = 256
EXTENDED_MAX_LC = 65535
EXTENDED_MAX_NE = 65536


class SW(IntEnum):
    """Status words the Kent Card application uses (ISO/IEC 7816-4 table 5 and 6)."""

    OK = 0x9000
    WARNING_NO_INFO = 0x6200
    EXEC_ERROR = 0x6400
    WRONG_LENGTH = 0x6700
    LOGICAL_CHANNEL_NOT_SUPPORTED = 0x6881
    SECURE_MESSAGING_NOT_SUPPORTED = 0x6882
    COMMAND_CHAINING_NOT_SUPPORTED = 0x6884
    SECURITY_STATUS_NOT_SATISFIED = 0x6982
    AUTH_METHOD_BLOCKED = 0x6983
    CONDITIONS_NOT_SATISFIED = 0x6985
    WRONG_DATA = 0x6A80
    FUNCTION_NOT_SUPPORTED = 0x6A81
    FILE_NOT_FOUND = 0x6A82
    INCORRECT_P1P2 = 0x6A86
    REFERENCE_NOT_FOUND = 0x6A88
    WRONG_P1P2 = 0x6B00
    INS_NOT_SUPPORTED = 0x6D00
    CLA_NOT_SUPPORTED = 0x6E00
    NO_PRECISE_DIAGNOSIS = 0x6F00


_SW_TEXT: dict[int, str] = {
    SW.OK: "success",
    SW.WARNING_NO_INFO: "warning, no information given",
    SW.EXEC_ERROR: "execution error",
    SW.WRONG_LENGTH: "wrong length",
    SW.LOGICAL_CHANNEL_NOT_SUPPORTED: "logical channel not supported",
    SW.SECURE_MESSAGING_NOT_SUPPORTED: "secure messaging not supported",
    SW.COMMAND_CHAINING_NOT_SUPPORTED: "command chaining not supported",
    SW.SECURITY_STATUS_NOT_SATISFIED: "security status not satisfied",
    SW.AUTH_METHOD_BLOCKED: "PIN blocked",
    SW.CONDITIONS_NOT_SATISFIED: "conditions of use not satisfied",
    SW.WRONG_DATA: "incorrect data",
    SW.FUNCTION_NOT_SUPPORTED: "function not supported",
    SW.FILE_NOT_FOUND: "application not found",
    SW.INCORRECT_P1P2: "incorrect P1 or P2",
    SW.REFERENCE_NOT_FOUND: "referenced data not found",
    SW.WRONG_P1P2: "wrong P1 or P2",
    SW.INS_NOT_SUPPORTED: "instruction not supported",
    SW.CLA_NOT_SUPPORTED: "class not supported",
    SW.NO_PRECISE_DIAGNOSIS: "no precise diagnosis",
}


def sw_name(sw: int) -> str:
    """The plain name of a status word, including the ones carrying a count."""
    if sw in _SW_TEXT:
        return _SW_TEXT[sw]
    if sw & 0xFF00 == 0x6100:
        return f"{sw & 0xFF or 256} more bytes available"
    if sw & 0xFFF0 == 0x63C0:
        return f"wrong PIN, {sw & 0x0F} tries left"
    if sw & 0xFF00 == 0x6C00:
        return f"wrong Le, exact length is {sw & 0xFF or 256}"
    return "unknown status word"


def sw_text(sw: int) -> str:
    return f"{sw:04X} {sw_name(sw)}"


class ApduFormatError(ValueError):
    """Bytes that are not a valid command or response APDU."""


class ApduError(Exception):
    """A card answered with a status word other than 9000; prints the status word's name."""

    def __init__(self, sw: int, data: bytes = b"", context: str = "") -> None:
        self.sw = sw
        self.data = data
        self.context = context
        prefix = f"{context}: " if context else ""
        super().__init__(f"{prefix}{sw_text(sw)}")


@dataclass(frozen=True)
class CommandApdu:
    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    ne: int = 0

    def __post_init__(self) -> None:
        for name in ("cla", "ins", "p1", "p2"):
            if not 0 <= getattr(self, name) <= 0xFF:
                raise ApduFormatError(f"{name} must be one byte")
        if len(self.data) > EXTENDED_MAX_LC:
            raise ApduFormatError("command data longer than 65535 bytes")
        if not 0 <= self.ne <= EXTENDED_MAX_NE:
            raise ApduFormatError("Ne out of range")

    @property
    def extended(self) -> bool:
        return len(self.data) > SHORT_MAX_LC or self.ne > SHORT_MAX_NE

    def encode(self) -> bytes:
        header = bytes([self.cla, self.ins, self.p1, self.p2])
        lc = len(self.data)
        if not self.extended:
            body = bytes([lc]) + self.data if lc else b""
            le = bytes([self.ne & 0xFF]) if self.ne else b""
            return header + body + le
        body = b"\x00" + lc.to_bytes(2, "big") + self.data if lc else b""
        if self.ne:
            le = (self.ne & 0xFFFF).to_bytes(2, "big")
            le = le if lc else b"\x00" + le
        else:
            le = b""
        return header + body + le

    @classmethod
    def decode(cls, apdu: bytes) -> CommandApdu:
        """Decode any of the seven ISO cases; raise :class:`ApduFormatError` otherwise."""
        n = len(apdu)
        if n < 4:
            raise ApduFormatError("a command APDU has at least 4 bytes")
        cla, ins, p1, p2 = apdu[0], apdu[1], apdu[2], apdu[3]
        if n == 4:
            return cls(cla, ins, p1, p2)
        b4 = apdu[4]
        if n == 5:
            return cls(cla, ins, p1, p2, ne=b4 or SHORT_MAX_NE)
        if b4 != 0:
            if n == 5 + b4:
                return cls(cla, ins, p1, p2, apdu[5:])
            if n == 6 + b4:
                return cls(cla, ins, p1, p2, apdu[5:-1], ne=apdu[-1] or SHORT_MAX_NE)
            raise ApduFormatError("short Lc does not match the command length")
        if n == 7:
            return cls(cla, ins, p1, p2, ne=int.from_bytes(apdu[5:7], "big") or EXTENDED_MAX_NE)
        lc = int.from_bytes(apdu[5:7], "big")
        if lc == 0:
            raise ApduFormatError("extended Lc of zero")
        if n == 7 + lc:
            return cls(cla, ins, p1, p2, apdu[7:])
        if n == 9 + lc:
            ne = int.from_bytes(apdu[-2:], "big") or EXTENDED_MAX_NE
            return cls(cla, ins, p1, p2, apdu[7:-2], ne=ne)
        raise ApduFormatError("extended Lc does not match the command length")


@dataclass(frozen=True)
class ResponseApdu:
    data: bytes
    sw: int

    @property
    def sw1(self) -> int:
        return self.sw >> 8

    @property
    def sw2(self) -> int:
        return self.sw & 0xFF

    def encode(self) -> bytes:
        return self.data + self.sw.to_bytes(2, "big")

    @classmethod
    def decode(cls, response: bytes) -> ResponseApdu:
        if len(response) < 2:
            raise ApduFormatError("a response APDU has at least 2 bytes (the status word)")
        return cls(bytes(response[:-2]), int.from_bytes(response[-2:], "big"))
