"""Serve a virtual card to pcscd through vsmartcard's vpcd reader driver.

vpcd listens on 127.0.0.1:35963 (reader ``Virtual PCD 00 00``) and 35964 (``... 00 01``);
the card connects to it. Framing: 2-byte big-endian length, then the payload. A 1-byte
payload is a control message (0 power off, 1 power on, 2 reset, 4 send the ATR); anything
longer is a command APDU to answer (a card that stays silent sends nothing back). While
connected the card is "in the reader"; closing the socket removes it. If pcscd restarts,
the card reconnects by itself.

An empty answer frame (length 0) is the card's last word in vpcd: the driver reads the
zero-length payload with a blocking ``recv(..., 0, MSG_WAITALL)``, which on Linux waits for
one more byte or the end of the connection, then ejects the card. So by default a card that
answers an empty frame closes its connection at once and stays out until it is inserted
again: pcscd then hands the reader an empty answer (``SCardTransmit`` succeeds with no
bytes). With ``empty_frame_then="wait"`` the card keeps the connection open instead, and
pcscd waits for ever, as for a silent card.

Latency: TCP_NODELAY, and TCP_QUICKACK before every recv, or each APDU waits ~40 ms for
Nagle's algorithm to meet a delayed ACK (hardware/README.md).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from typing import Literal

from hardware.virtual_card import Card

logger = logging.getLogger(__name__)

VPCD_HOST = "127.0.0.1"
VPCD_BASE_PORT = 35963
CTRL_OFF, CTRL_ON, CTRL_RESET, CTRL_ATR = 0, 1, 2, 4
_QUICKACK = getattr(socket, "TCP_QUICKACK", None)


#: What a card that answered an empty frame does next (see the module docstring).
EmptyFrameThen = Literal["close", "wait"]


def port_for(reader: int) -> int:
    return VPCD_BASE_PORT + reader


def reader_name(reader: int) -> str:
    return f"Virtual PCD 00 {reader:02d}"


class VpcdCard:
    """A virtual card in a vpcd reader, served from a background thread."""

    def __init__(
        self,
        card: Card,
        port: int = VPCD_BASE_PORT,
        host: str = VPCD_HOST,
        empty_frame_then: EmptyFrameThen = "close",
    ):
        self.card = card
        self.empty_frame_then = empty_frame_then
        self.host = host
        self.port = port
        self.inserted = threading.Event()
        self.connected = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self.apdus = 0

    def start(self, inserted: bool = True) -> VpcdCard:
        if inserted:
            self.inserted.set()
        self._thread = threading.Thread(target=self._run, name=f"vpcd:{self.port}", daemon=True)
        self._thread.start()
        return self

    def insert(self) -> None:
        self.inserted.set()

    def remove(self) -> None:
        """Take the card out: close the socket; vpcd then reports no card."""
        self.inserted.clear()
        self._close()

    def stop(self) -> None:
        self._stop.set()
        self.remove()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _close(self) -> None:
        with self._lock:
            sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self.inserted.wait(0.1):
                continue
            try:
                sock = socket.create_connection((self.host, self.port), timeout=1.0)
            except OSError:
                self._stop.wait(0.1)  # pcscd (or its vpcd driver) is not listening yet
                continue
            sock.settimeout(None)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                if self._stop.is_set() or not self.inserted.is_set():
                    sock.close()  # stopped or removed while connecting: stay out
                    continue
                self._sock = sock
            self.connected.set()
            try:
                self._serve(sock)
            except OSError as exc:
                logger.debug("vpcd connection ended: %s", exc)
            finally:
                self.connected.clear()
                self._close()
                self.card.power_off()

    def _recv_exact(self, sock: socket.socket, size: int) -> bytes | None:
        data = b""
        while len(data) < size:
            if _QUICKACK is not None:
                sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
            chunk = sock.recv(size - len(data))
            if not chunk:
                return None
            data += chunk
        return data

    def _serve(self, sock: socket.socket) -> None:
        while True:
            header = self._recv_exact(sock, 2)
            if header is None:
                return
            payload = self._recv_exact(sock, int.from_bytes(header, "big"))
            if payload is None:
                return
            if len(payload) == 1:
                control = payload[0]
                if control == CTRL_ATR:
                    sock.sendall(len(self.card.atr).to_bytes(2, "big") + self.card.atr)
                elif control in (CTRL_OFF, CTRL_ON, CTRL_RESET):
                    self.card.power_on()  # each clears volatile state
                continue
            self.apdus += 1
            response = self.card.process(payload)
            if response is None:
                continue  # a silent card: vpcd, and pcscd behind it, wait until it is removed
            sock.sendall(len(response).to_bytes(2, "big") + response)
            if not response and self.empty_frame_then == "close":
                self.inserted.clear()  # vpcd ejects the card: it is out until inserted again
                return
