"""Cards that break the framing of the protocol, for the reader's deadline tests.

A :class:`FaultyCard` is a genuine virtual Kent Card that, on one instruction, does not
answer a response APDU: it stays silent (no answer at all, as a card that hangs in the
field), answers an empty frame, or answers one byte (half a status word). Every other
command it answers as the genuine card does. It plugs in wherever a
:class:`~hardware.virtual_card.VirtualKentCard` does: in process
(:class:`~hardware.virtual_card.InProcessConnection`, where silence blocks the transmit
until the card is taken out) and through pcscd (:class:`~hardware.vpcd.VpcdCard`, where
silence sends vpcd nothing, so pcscd waits for ever).
"""

from __future__ import annotations

from enum import StrEnum

from cardio import spec
from hardware.virtual_card import VirtualKentCard


class Fault(StrEnum):
    SILENT = "silent"
    EMPTY = "empty"
    ONE_BYTE = "one-byte"


#: The instructions a fault can be put on, by the name ``kentcard virtual-card run`` takes.
FAULT_ON = {
    "select": spec.INS_SELECT,
    "verify": spec.INS_VERIFY,  # a kiosk's sign-in (the PIN)
    "authenticate": spec.INS_INTERNAL_AUTHENTICATE,
}


class FaultyCard:
    """``card``, except that its answer to instruction ``on_ins`` is ``fault``."""

    def __init__(self, card: VirtualKentCard, fault: Fault, on_ins: int = spec.INS_SELECT) -> None:
        self.card = card
        self.fault = fault
        self.on_ins = on_ins
        self.faults = 0

    @property
    def atr(self) -> bytes:
        return self.card.atr

    def power_on(self) -> None:
        self.card.power_on()

    def power_off(self) -> None:
        self.card.power_off()

    def process(self, apdu: bytes) -> bytes | None:
        """The genuine answer, or for ``on_ins``: None (silence), no bytes, or one byte."""
        if len(apdu) < 2 or apdu[1] != self.on_ins:
            return self.card.process(apdu)
        self.faults += 1
        if self.fault is Fault.SILENT:
            return None
        if self.fault is Fault.EMPTY:
            return b""
        return b"\x90"  # the first byte of 9000, and nothing after it
