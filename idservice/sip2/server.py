"""``kentcard sip2 serve``: the SIP2 bridge's TCP server (docs/sip2.md, "The server").

One thread per kiosk connection reads frames, answers them
(:class:`~idservice.sip2.protocol.Conversation`) and writes the answers. A look-up runs
in that thread on a lean database connection lent to it for the look-up
(:class:`LentDatabase`), at most ``db_connections`` at once, so a hundred idle kiosks
hold no database connection.

Nothing a client sends can stop the server or hold a thread for ever:

* at most ``max_connections`` connections; one more is closed at once;
* a connection that sends nothing for ``idle_timeout`` seconds is closed (kiosks send
  SC status, ``99``, every minute or so to show they are there);
* a message must arrive whole within ``message_timeout`` seconds of its first byte
  (a client trickling bytes is closed); one longer than ``max_message`` bytes gets
  ``96`` and is skipped up to its carriage return;
* an answer the client does not take within ``send_timeout`` seconds closes it;
* anything a conversation raises is logged and closes that connection only;
* an address with 20 failed logins in 10 minutes has its logins refused unchecked
  (:class:`LoginThrottle`), so it cannot make the bridge hash passwords for ever.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from idservice.db import LeanDatabase, db_session
from idservice.sip2 import bridge, codec, kiosks
from idservice.sip2.kiosks import Kiosk
from idservice.sip2.protocol import Conversation, Limits

if TYPE_CHECKING:
    from flask import Flask

log = logging.getLogger("kentcard.sip2")


@dataclass(frozen=True)
class Options:
    host: str = "127.0.0.1"
    port: int = 6001
    max_connections: int = 256
    idle_timeout: float = 600.0
    message_timeout: float = 10.0
    send_timeout: float = 10.0
    max_message: int = 2048
    #: Look-ups and logins at once (and PostgreSQL connections held for them).
    db_connections: int = 8
    #: How long a look-up waits for a free database connection before "unavailable".
    db_timeout: float = 10.0
    encoding: str = "utf-8"


class LentDatabase(LeanDatabase):
    """The lean database of :mod:`idservice.db`, its PostgreSQL connections lent to
    whichever kiosk thread is answering (:meth:`lent`) rather than kept one per thread:
    a hundred idle kiosks hold no connection. The callers bound how many are lent at once
    (:class:`AppBackend`), so at most that many connections are ever made; one lent back
    broken is dropped, and one idle for a while is pinged before it is lent again, as
    :class:`~idservice.db.LeanDatabase` does for its own."""

    def __init__(self, engine: Any) -> None:
        super().__init__(engine)
        self._idle: list[tuple[Any, float]] = []
        self._idle_lock = threading.Lock()

    @contextlib.contextmanager
    def lent(self) -> Iterator[None]:
        if not self.postgresql:
            yield  # SQLite: the engine's own pool
            return
        with self._idle_lock:
            connection, used = self._idle.pop() if self._idle else (None, 0.0)
        self._local.connection, self._local.used = connection, used
        try:
            yield
        finally:
            connection = getattr(self._local, "connection", None)
            used = getattr(self._local, "used", 0.0)
            self._local.connection = None
            if connection is not None and not connection.closed:
                with self._idle_lock:
                    self._idle.append((connection, used))

    def close(self) -> None:
        with self._idle_lock:
            idle, self._idle = self._idle, []
        for connection, _used in idle:
            with contextlib.suppress(Exception):
                connection.close()


class LoginThrottle:
    """Failed logins per network address, across this process's connections: past
    ``limit`` within ``window`` seconds, logins from that address are refused without
    being checked, so a client that keeps trying cannot make the bridge spend an argon2id
    hash on each try."""

    def __init__(self, limit: int = 20, window: float = 600.0, clock: Any = time.monotonic) -> None:
        self.limit, self.window, self.clock = limit, window, clock
        self._failures: dict[str, collections.deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, address: str, now: float) -> collections.deque[float]:
        times = self._failures.setdefault(address, collections.deque())
        while times and now - times[0] > self.window:
            times.popleft()
        return times

    def blocked(self, address: str) -> bool:
        with self._lock:
            return len(self._recent(address, self.clock())) >= self.limit

    def failed(self, address: str) -> None:
        with self._lock:
            now = self.clock()
            self._recent(address, now).append(now)
            if len(self._failures) > 10_000:  # forget addresses whose failures are old
                for stale in [
                    a for a, t in self._failures.items() if not t or now - t[-1] > self.window
                ]:
                    del self._failures[stale]


def address_of(peer: str) -> str:
    """The network address of ``host:port``."""
    return peer.rsplit(":", 1)[0]


class AppBackend:
    """:class:`~idservice.sip2.protocol.Backend` on the app, run in the kiosk's own
    connection thread (no hand-over to another thread and back: fewer wake-ups per
    look-up), at most ``db_connections`` at once."""

    def __init__(self, app: Flask, options: Options) -> None:
        self.app = app
        self.options = options
        self.database = LentDatabase(app.extensions["kentcard_engine"])
        self.slots = threading.BoundedSemaphore(options.db_connections)
        self.window = int(app.config["KENTCARD"].tap_challenge_window)
        self.throttle = LoginThrottle()

    @contextlib.contextmanager
    def _slot(self) -> Iterator[None]:
        if not self.slots.acquire(timeout=self.options.db_timeout):
            raise TimeoutError("no database connection free")
        try:
            yield
        finally:
            self.slots.release()

    def login(self, login: str, password: str, peer: str) -> Kiosk | None:
        address = address_of(peer)
        if self.throttle.blocked(address):
            log.warning("SIP2 login from %s refused unchecked: too many failures", address)
            return None
        with self._slot(), self.app.app_context():
            try:
                result = kiosks.authenticate(login, password, address)
            finally:
                db_session.remove()
        if result.kiosk is None:
            self.throttle.failed(address)
            log.warning("SIP2 login %s from %s: %s", login[:64], peer, result.outcome)
        return result.kiosk

    def patron(self, kiosk: Kiosk, patron_id: str, password: str | None) -> bridge.PatronAnswer:
        with self._slot(), self.database.lent():
            return bridge.look_up_patron(
                self.database, kiosk, patron_id, password, window=self.window
            )

    def still_active(self, kiosk: Kiosk) -> bool:
        with self._slot(), self.app.app_context():
            try:
                return kiosks.is_active(kiosk.client_id)
            finally:
                db_session.remove()

    def close(self) -> None:
        self.database.close()


#: How long a closing connection reads what the kiosk still sends, at most.
DRAIN_S = 1.0


def close_gracefully(conn: socket.socket, drain_s: float = DRAIN_S) -> None:
    """Close a kiosk's connection so that our last answer reaches it.

    Closing a socket with unread input sends a reset, and a reset can make the kiosk's
    system drop the answer it had not read yet (the ``96`` before a hang-up). So: no more
    writes (a FIN after the last answer), then what the kiosk still sends is read and
    dropped until it closes too or ``drain_s`` passes, then the socket is closed.
    """
    with contextlib.suppress(OSError):
        conn.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + drain_s
        while (left := deadline - time.monotonic()) > 0:
            conn.settimeout(left)
            if not conn.recv(4096):
                break
    with contextlib.suppress(OSError):
        conn.close()


class Sip2Server:
    """Listens, accepts and serves kiosk connections until :meth:`shutdown`."""

    def __init__(self, backend: Any, options: Options) -> None:
        self.backend = backend
        self.options = options
        self.limits = Limits(encoding=options.encoding)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._listener = socket.create_server(
            (options.host, options.port), reuse_port=False, backlog=128
        )
        self._listener.settimeout(0.5)
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._listener.getsockname()[:2]
        return str(host), int(port)

    def start(self) -> Sip2Server:
        """Serve in a background thread."""
        self._thread = threading.Thread(target=self.serve_forever, name="sip2-accept", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        log.info("SIP2 bridge listening on %s:%d", *self.address)
        while not self._stop.is_set():
            try:
                conn, peer = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._stop.is_set():
                    break
                log.exception("SIP2 accept failed")
                time.sleep(0.1)
                continue
            with self._lock:
                full = len(self._connections) >= self.options.max_connections
                if not full:
                    self._connections.add(conn)
            if full:
                log.warning(
                    "SIP2 connection from %s refused: %d open", peer[0], len(self._connections)
                )
                with contextlib.suppress(OSError):
                    conn.close()
                continue
            name = f"{peer[0]}:{peer[1]}"
            threading.Thread(
                target=self._serve, args=(conn, name), name=f"sip2-{name}", daemon=True
            ).start()

    def shutdown(self) -> None:
        """Stop accepting, close every connection, wait for the accept thread."""
        self._stop.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            open_now = list(self._connections)
        for conn in open_now:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._connections)

    # -- one connection ----------------------------------------------------------------

    def _serve(self, conn: socket.socket, peer: str) -> None:
        try:
            self._converse(conn, peer)
        except OSError as exc:  # the kiosk went away, or did not take an answer in time
            log.info("SIP2 connection from %s ended: %s", peer, exc.__class__.__name__)
        except Exception:
            log.exception("SIP2 connection from %s failed", peer)
        finally:
            with self._lock:
                self._connections.discard(conn)
            close_gracefully(conn)

    def _converse(self, conn: socket.socket, peer: str) -> None:
        options = self.options
        conversation = Conversation(self.backend, peer, self.limits)
        buffer = bytearray()
        skipping = False  # inside a message that was too long: drop it up to its CR
        waiting_since = time.monotonic()  # since the last answer, or the connection
        started: float | None = None  # the first byte of the message being read
        while not self._stop.is_set():
            now = time.monotonic()
            if started is not None:
                left = started + options.message_timeout - now
                why = "message not finished in time"
            else:
                left = waiting_since + options.idle_timeout - now
                why = "idle"
            if left <= 0:
                log.info("SIP2 connection from %s closed: %s", peer, why)
                return
            conn.settimeout(min(left, 1.0))
            try:
                chunk = conn.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            if not chunk:
                return
            if started is None:
                started = now
            buffer += chunk
            while not conversation.closing:
                end = buffer.find(codec.MESSAGE_END)
                if end < 0:
                    if len(buffer) > options.max_message:
                        if not skipping:
                            self._send(conn, conversation.too_long())
                        skipping = True
                        buffer.clear()
                    break
                frame = bytes(buffer[:end]).lstrip(b"\n")
                del buffer[: end + 1]
                if skipping:
                    skipping = False  # the end of the message that was too long
                    continue
                if len(frame) > options.max_message:
                    self._send(conn, conversation.too_long())
                    continue
                if frame:
                    self._send(conn, conversation.handle(frame))
                waiting_since = time.monotonic()
                started = waiting_since if buffer.strip(b"\n") else None
            if conversation.closing:
                return

    def _send(self, conn: socket.socket, data: bytes) -> None:
        conn.settimeout(self.options.send_timeout)
        conn.sendall(data)  # a timeout or a reset ends the connection (OSError)


def serve(app: Flask, options: Options) -> None:
    """Run the bridge in the foreground until SIGINT or SIGTERM."""
    import signal

    # A thread waiting for the interpreter lock gets it within 1 ms rather than 5: a
    # look-up whose database answer is in waits less behind the other connections.
    sys.setswitchinterval(0.001)
    backend = AppBackend(app, options)
    server = Sip2Server(backend, options)
    stop = threading.Event()

    def _stop(_signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    server.start()
    try:
        stop.wait()
    finally:
        server.shutdown()
        backend.close()
