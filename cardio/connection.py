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


class CardSilentError(TransportError):
    """The card did not answer a command within the reader's deadline.

    The call that waits for it may still be blocked (pcscd waits for ever on a silent
    card): the connection is abandoned, never used again, and the reader starts afresh.
    """


class BadAnswerError(TransportError):
    """The card answered, but not with a response APDU (ISO/IEC 7816-4: data, then SW1 SW2)."""


class EmptyAnswerError(BadAnswerError):
    """The card's answer frame held no bytes at all."""


class NoStatusWordError(BadAnswerError):
    """The card's answer was one byte: shorter than a status word."""


def split_response(response: bytes) -> tuple[bytes, int]:
    """A response APDU's data and status word; the two kinds of too-short answer raise
    :class:`EmptyAnswerError` and :class:`NoStatusWordError`."""
    if not response:
        raise EmptyAnswerError("the card answered an empty frame")
    if len(response) < 2:
        raise NoStatusWordError(f"the card answered {response.hex()}: no status word")
    return bytes(response[:-2]), (response[-2] << 8) | response[-1]


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
