"""PC/SC through pcscd: the only module that imports pyscard.

Uses pyscard's thin ``scard`` layer (one C call per PC/SC function; it lets go of the GIL
while pcscd works) and maps return codes to :mod:`cardio.connection` errors, so callers can
tell a pulled card from a lost reader from a pcscd that went away (after which the context
must be established again). An answer shorter than a status word is refused here
(:func:`cardio.connection.split_response`). A call blocked on a silent card is never
waited behind: see :class:`_Context`, and :mod:`cardio.deadline` for who gives up on it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from smartcard import scard

from cardio.connection import (
    CardRemovedError,
    ReaderUnavailableError,
    ServiceUnavailableError,
    TransportError,
    split_response,
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


class _Context:
    """A PC/SC context and the calls in flight on it (on the context or a card handle in it).

    pcsc-lite lets one call at a time use a context; any other call on it, from any thread,
    waits for that one, holding the library's global lock meanwhile, so every other context
    of the process waits too. A call blocked on a silent card would so stop the whole
    reader. When the reader gives up on a context (:meth:`abandon`) it is therefore never
    touched again: it is released at once if no call is in flight, otherwise by the thread
    of the last such call, once that call returns (when the card leaves the field).
    """

    def __init__(self) -> None:
        hresult, self.handle = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        _check(hresult, "pcscd is not answering")
        self._lock = threading.Lock()
        self._in_flight = 0
        self._abandoned = False
        self._released = False

    @contextlib.contextmanager
    def call(self) -> Iterator[Any]:
        with self._lock:
            if self._abandoned:
                raise CardRemovedError("this card connection was given up on")
            self._in_flight += 1
        try:
            yield self.handle
        finally:
            with self._lock:
                self._in_flight -= 1
                release = self._abandoned and not self._in_flight and not self._released
                self._released = self._released or release
            if release:
                self._release()

    def abandon(self) -> None:
        with self._lock:
            self._abandoned = True
            release = not self._in_flight and not self._released
            self._released = self._released or release
        if release:
            self._release()

    def _release(self) -> None:
        # pcscd resets the cards a released context still had connected.
        scard.SCardReleaseContext(self.handle)


class PcscConnection:
    def __init__(self, context: _Context, card: Any, protocol: int) -> None:
        self._context = context
        self._card = card
        self._protocol = protocol

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        with self._context.call():
            hresult, response = scard.SCardTransmit(self._card, self._protocol, list(apdu))
        _check(hresult, "transmit")
        return split_response(bytes(response))

    def disconnect(self) -> None:
        with self._context.call():
            hresult = scard.SCardDisconnect(self._card, scard.SCARD_LEAVE_CARD)
        _check(hresult, "disconnect")


class PcscReader:
    """One reader, by exact name or name prefix (``None``: the first reader pcscd lists)."""

    def __init__(self, wanted: str | None = None) -> None:
        self.wanted = wanted
        self._context: _Context | None = None
        self._reader: str | None = None

    @property
    def name(self) -> str:
        return self._reader or self.wanted or "(first reader)"

    def _resolve(self) -> tuple[_Context, str]:
        if self._context is None:
            self._context = _Context()
        if self._reader is None:
            with self._context.call() as handle:
                readers = list_readers(handle)
            matches = [r for r in readers if self.wanted is None or r.startswith(self.wanted)]
            if not matches:
                raise ReaderUnavailableError(f"reader {self.name} is not connected")
            self._reader = matches[0]
        return self._context, self._reader

    def _wait(self, present: bool, timeout: float) -> bool:
        context, reader = self._resolve()
        with context.call() as handle:
            hresult, states = scard.SCardGetStatusChange(
                handle, 0, [(reader, scard.SCARD_STATE_UNAWARE)]
            )
            _check(hresult, f"reader {reader}")
            state = states[0][1]
            if self._matches(state, present):
                return True
            known = state & ~scard.SCARD_STATE_CHANGED
            hresult, states = scard.SCardGetStatusChange(
                handle, int(timeout * 1000), [(reader, known)]
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
        with context.call() as handle:
            hresult, card, protocol = scard.SCardConnect(
                handle,
                reader,
                scard.SCARD_SHARE_SHARED,
                scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1,
            )
        _check(hresult, f"connecting to the card in {reader}")
        return PcscConnection(context, card, protocol)

    def reset(self) -> None:
        """Start afresh with a new context. The old one is released now, or, when a call
        on it is still blocked (a silent card), by that call's thread once it returns."""
        context, self._context, self._reader = self._context, None, None
        if context is not None:
            context.abandon()
