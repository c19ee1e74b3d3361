"""The connection layer: raw bytes to and from a card, and the reader it sits in.

Anything that can move an APDU implements :class:`CardConnection` (pcscd through
``cardio/pcsc.py``, the virtual card in process). Transport failures are turned into the
exceptions below so the reader loop can tell "card pulled" from "pcscd went away".
"""

from __future__ import annotations

from typing import Protocol


class TransportError(Exception):
    """The APDU did not make it to the card or back."""


class CardRemovedError(TransportError):
    """The card left the field (or was never there)."""


class ReaderUnavailableError(TransportError):
    """The reader is unplugged or unknown."""


class ServiceUnavailableError(TransportError):
    """The PC/SC service (pcscd) is not answering; the context must be re-established."""


class CardConnection(Protocol):
    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        """Send a command APDU, return the response data and status word."""
        ...

    def disconnect(self) -> None: ...


class CardReader(Protocol):
    """A reader the station watches; implemented over pcscd by ``cardio.pcsc``."""

    @property
    def name(self) -> str: ...

    def wait_for_card(self, timeout: float) -> bool:
        """True when a card is present; False after ``timeout`` seconds without one."""
        ...

    def wait_for_removal(self, timeout: float) -> bool:
        """True once the card is gone; False after ``timeout`` seconds."""
        ...

    def connect(self) -> CardConnection: ...

    def reset(self) -> None:
        """Forget the service context so the next call re-establishes it."""
        ...
