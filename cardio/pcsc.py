"""PC/SC through pcscd: the only module that imports pyscard.

Uses pyscard's thin ``scard`` layer (one C call per PC/SC function) and maps return codes
to :mod:`cardio.connection` errors, so callers can tell a pulled card from a lost reader
from a pcscd that went away (after which the context must be established again).
"""

from __future__ import annotations

from typing import Any

from smartcard import scard

from cardio.connection import (
    CardRemovedError,
    ReaderUnavailableError,
    ServiceUnavailableError,
    TransportError,
)

_SERVICE = {
    scard.SCARD_E_NO_SERVICE,
    scard.SCARD_E_SERVICE_STOPPED,
    scard.SCARD_E_INVALID_HANDLE,
    scard.SCARD_F_COMM_ERROR,
    scard.SCARD_F_INTERNAL_ERROR,
}
_READER = {
    scard.SCARD_E_UNKNOWN_READER,
    scard.SCARD_E_READER_UNAVAILABLE,
    scard.SCARD_E_NO_READERS_AVAILABLE,
}
_CARD = {
    scard.SCARD_W_REMOVED_CARD,
    scard.SCARD_E_NO_SMARTCARD,
    scard.SCARD_W_UNPOWERED_CARD,
    scard.SCARD_W_UNRESPONSIVE_CARD,
    scard.SCARD_W_RESET_CARD,
    scard.SCARD_E_NOT_TRANSACTED,  # seen when a card is swapped faster than pcscd polls
}


def _check(hresult: int, what: str) -> None:
    if hresult == scard.SCARD_S_SUCCESS:
        return
    message = f"{what}: {scard.SCardGetErrorMessage(hresult)} ({hresult & 0xFFFFFFFF:08X})"
    if hresult in _SERVICE:
        raise ServiceUnavailableError(message)
    if hresult in _READER:
        raise ReaderUnavailableError(message)
    if hresult in _CARD:
        raise CardRemovedError(message)
    raise TransportError(message)


def establish_context() -> Any:
    hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    _check(hresult, "pcscd is not answering")
    return context


def list_readers(context: Any | None = None) -> list[str]:
    own = context is None
    context = context if context is not None else establish_context()
    try:
        hresult, readers = scard.SCardListReaders(context, [])
        if hresult == scard.SCARD_E_NO_READERS_AVAILABLE:
            return []
        _check(hresult, "listing readers")
        return list(readers)
    finally:
        if own:
            scard.SCardReleaseContext(context)


class PcscConnection:
    def __init__(self, card: Any, protocol: int) -> None:
        self._card = card
        self._protocol = protocol

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        hresult, response = scard.SCardTransmit(self._card, self._protocol, list(apdu))
        _check(hresult, "transmit")
        if len(response) < 2:
            raise TransportError("response without a status word")
        return bytes(response[:-2]), (response[-2] << 8) | response[-1]

    def disconnect(self) -> None:
        _check(scard.SCardDisconnect(self._card, scard.SCARD_LEAVE_CARD), "disconnect")


class PcscReader:
    """One reader, by exact name or name prefix (``None``: the first reader pcscd lists)."""

    def __init__(self, wanted: str | None = None) -> None:
        self.wanted = wanted
        self._context: Any = None
        self._reader: str | None = None

    @property
    def name(self) -> str:
        return self._reader or self.wanted or "(first reader)"

    def _resolve(self) -> tuple[Any, str]:
        if self._context is None:
            self._context = establish_context()
        if self._reader is None:
            readers = list_readers(self._context)
            matches = [r for r in readers if self.wanted is None or r.startswith(self.wanted)]
            if not matches:
                raise ReaderUnavailableError(f"reader {self.name} is not connected")
            self._reader = matches[0]
        return self._context, self._reader

    def _wait(self, present: bool, timeout: float) -> bool:
        context, reader = self._resolve()
        hresult, states = scard.SCardGetStatusChange(
            context, 0, [(reader, scard.SCARD_STATE_UNAWARE)]
        )
        _check(hresult, f"reader {reader}")
        state = states[0][1]
        if self._matches(state, present):
            return True
        known = state & ~scard.SCARD_STATE_CHANGED
        hresult, states = scard.SCardGetStatusChange(
            context, int(timeout * 1000), [(reader, known)]
        )
        if hresult == scard.SCARD_E_TIMEOUT:
            return False
        _check(hresult, f"reader {reader}")
        state = states[0][1]
        if state & (scard.SCARD_STATE_UNKNOWN | scard.SCARD_STATE_UNAVAILABLE):
            raise ReaderUnavailableError(f"reader {reader} went away")
        return self._matches(state, present)

    @staticmethod
    def _matches(state: int, present: bool) -> bool:
        if state & (scard.SCARD_STATE_UNKNOWN | scard.SCARD_STATE_UNAVAILABLE):
            raise ReaderUnavailableError("reader is unavailable")
        card_in = bool(state & scard.SCARD_STATE_PRESENT) and not state & scard.SCARD_STATE_MUTE
        return card_in if present else not state & scard.SCARD_STATE_PRESENT

    def wait_for_card(self, timeout: float) -> bool:
        return self._wait(True, timeout)

    def wait_for_removal(self, timeout: float) -> bool:
        return self._wait(False, timeout)

    def connect(self) -> PcscConnection:
        context, reader = self._resolve()
        hresult, card, protocol = scard.SCardConnect(
            context,
            reader,
            scard.SCARD_SHARE_SHARED,
            scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1,
        )
        _check(hresult, f"connecting to the card in {reader}")
        return PcscConnection(card, protocol)

    def reset(self) -> None:
        if self._context is not None:
            scard.SCardReleaseContext(self._context)
        self._context = None
        self._reader = None
