"""Malformed, hostile and slow clients: a SIP2 answer for every frame, never a crash.

Property tests (hypothesis) throw frames at a conversation in process (fast, thousands of
frames) and at the bridge over TCP; every answer must be a well-formed SIP2 message, as an
independent codec (PyPI's ``pysip2``) reads it. Then the server's own limits: junk, a
message that never ends, one too long, a slow trickle, an idle connection, too many
connections; after each, the bridge still answers a kiosk.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pysip2 import decode_message
from pysip2.models import PatronStatusResponse
from sqlalchemy import func, select

from idservice.db import db_session
from idservice.models import PartnerQuery
from idservice.sip2 import codec
from idservice.sip2.bridge import PatronAnswer
from idservice.sip2.kiosks import Kiosk
from idservice.sip2.protocol import Conversation
from idservice.sip2.server import Options, Sip2Server
from tests.accounts.conftest import in_app
from tests.sip2.conftest import KioskLogin, People, raw, read_answer, serve

KIOSK = Kiosk(
    "sip2-test", "Test kiosk", "k1", "Test Library", "KENT", "library", "initials", "card"
)


class FakeBackend:
    """Answers without a database: a member for every card number."""

    def login(self, login: str, password: str, peer: str) -> Kiosk | None:
        return KIOSK if (login, password) == ("k1", "right") else None

    def patron(self, kiosk: Kiosk, patron_id: str, password: str | None) -> PatronAnswer:
        return PatronAnswer("entitled", True, name="A B", pin="N" if password else None)

    def still_active(self, kiosk: Kiosk) -> bool:
        return True


def is_sip2(answer: bytes) -> None:
    """One well-formed SIP2 message, ended by one carriage return."""
    assert answer.endswith(b"\r") and answer.count(b"\r") == 1
    decode_message(answer)  # raises on anything pysip2 finds wrong, checksum included


def checksummed(text: str, sequence: int = 0) -> bytes:
    body = f"{text}AY{sequence}AZ".encode()
    return body + codec.checksum(body).encode()


def logged_in_conversation(with_checksums: bool = False) -> Conversation:
    conversation = Conversation(FakeBackend(), "fuzz")
    login = "9300CNk1|COright|"
    frame = checksummed(login) if with_checksums else login.encode()
    assert conversation.handle(frame).startswith(b"941")
    return conversation


# -- in process: every frame gets a SIP2 answer -------------------------------------------

SIP2_COMMANDS = st.sampled_from([*sorted(codec.LAYOUTS), "01", "15", "19", "25", "37", "96"])
FIELD = st.tuples(
    st.sampled_from(["AO", "AA", "AC", "AD", "CN", "CO", "BP", "AB", "Xx", "A", ""]),
    st.text(max_size=40),
).map(lambda pair: pair[0] + pair[1])
SIP2_LIKE = st.builds(
    lambda command, fixed, fields, trailer: (
        command + fixed + "|".join(fields) + ("|" if fields else "") + trailer
    ),
    SIP2_COMMANDS,
    st.text(alphabet="0123456789 YNZ.", max_size=40),
    st.lists(FIELD, max_size=6),
    st.sampled_from(["", "AY1AZ", "AY9AZ0000", "AZ", "AY"]),
).map(lambda text: text.encode("utf-8", "replace"))
FRAMES = st.one_of(SIP2_LIKE, st.binary(max_size=300).map(lambda b: b.replace(b"\r", b"")))


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames=st.lists(FRAMES, min_size=1, max_size=6), log_in=st.booleans())
def test_any_frame_gets_a_well_formed_answer(frames: list[bytes], log_in: bool) -> None:
    conversation = logged_in_conversation() if log_in else Conversation(FakeBackend(), "fuzz")
    for frame in frames:
        is_sip2(conversation.handle(frame))


@settings(max_examples=400, deadline=None)
@given(
    position=st.integers(min_value=0),
    flip=st.integers(min_value=1, max_value=255),
    login_checksummed=st.booleans(),
)
def test_a_changed_byte_is_caught_by_the_checksum(
    position: int, flip: int, login_checksummed: bool
) -> None:
    frame = checksummed("2300120261207    101500AOKENT|AA9826010000000018|AC|AD|")
    index = position % (len(frame) - 4)  # a byte the checksum covers (not its own digits)
    changed = bytearray(frame)
    changed[index] ^= flip
    if bytes(changed) == frame or b"\r" in changed:
        return
    answer = logged_in_conversation(login_checksummed).handle(bytes(changed))
    is_sip2(answer)
    assert not answer.startswith(b"24" + b" " * 14)  # never a member for a damaged frame


def test_bad_frames_in_a_row_end_the_conversation() -> None:
    conversation = logged_in_conversation()
    for _ in range(4):
        assert conversation.handle(b"\x00\x01junk") == codec.resend_request()
        assert not conversation.closing
    conversation.handle(b"junk")
    assert conversation.closing


def test_known_commands_that_cannot_be_read_get_their_own_no() -> None:
    conversation = logged_in_conversation()
    short = conversation.handle(b"23001")
    assert short.startswith(b"24YYYY")
    assert b"AFmessage 23: fixed fields too short|" in short
    missing = conversation.handle(b"2300120261207    101500AOKENT|")
    assert missing.startswith(b"24YYYY") and b"AFMessage 23 needs field AA|" in missing
    is_sip2(short)
    is_sip2(missing)


def test_resend_and_a_repeated_sequence_number() -> None:
    conversation = logged_in_conversation()
    frame = checksummed("2300120261207    101500AOKENT|AA9826010000000018|AC|AD|", 5)
    first = conversation.handle(frame)
    assert conversation.handle(checksummed("97", 6)) == first  # resend: the same answer
    assert conversation.handle(frame) == first  # the same request again: not asked again


# -- over TCP ---------------------------------------------------------------------------


@pytest.fixture
def strict(app: Flask) -> Iterator[Sip2Server]:
    """The bridge with short timeouts, a small message limit and three connections."""
    options = Options(
        port=0,
        db_connections=2,
        idle_timeout=1.5,
        message_timeout=0.8,
        max_message=256,
        max_connections=3,
        send_timeout=2,
    )
    yield from serve(app, options)


def login_frame(kiosk: KioskLogin) -> bytes:
    return f"9300CN{kiosk.login}|CO{kiosk.password}|\r".encode()


def still_answers(server: Sip2Server, kiosk: KioskLogin, card: str) -> None:
    status = f"2300120261207    101500AOKENTLIBS|AA{card}|AC|AD|\r".encode()
    login, answer = raw(server, login_frame(kiosk), status)
    assert login.startswith(b"941")
    decoded = decode_message(answer).message
    assert isinstance(decoded, PatronStatusResponse) and decoded.valid_patron == "Y"


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(junk=st.lists(st.binary(min_size=1, max_size=600), min_size=1, max_size=4))
def test_the_bridge_answers_junk_over_tcp_and_keeps_serving(
    bridge: Sip2Server, kiosk: KioskLogin, junk: list[bytes]
) -> None:
    with (
        socket.create_connection(bridge.address, timeout=5) as conn,
        conn.makefile("rb") as reader,
    ):
        for chunk in junk:
            frames = chunk.replace(b"\n", b"").split(b"\r")
            for frame in filter(None, frames):  # an empty line is not a message
                conn.sendall(frame + b"\r")
                answer = read_answer(reader)
                if not answer:
                    break  # the bridge hung up after too many bad frames: allowed
                is_sip2(answer)
    for _ in range(50):  # the bridge lets go of closed connections
        if bridge.open_connections == 0:
            break
        time.sleep(0.05)
    assert bridge.open_connections == 0


def test_limits_over_tcp(app: Flask, strict: Sip2Server, kiosk: KioskLogin, people: People) -> None:
    # Binary junk, a TLS handshake and NUL bytes: 96 each.
    assert (
        raw(strict, b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r", b"\x00\x00\r")
        == [codec.resend_request()] * 2
    )
    # A message longer than the limit: 96, skipped to its end, then the next is answered,
    # whether it came whole or in pieces.
    with (
        socket.create_connection(strict.address, timeout=5) as conn,
        conn.makefile("rb") as reader,
    ):
        conn.sendall(b"23" + b"9" * 600 + b"\r" + login_frame(kiosk))
        assert read_answer(reader) == codec.resend_request()
        assert read_answer(reader).startswith(b"941")
        conn.sendall(b"23" + b"9" * 300)
        assert read_answer(reader) == codec.resend_request()
        conn.sendall(b"9" * 300 + b"\r" + b"9900302.00\r")
        assert read_answer(reader).startswith(b"98Y")
    # A message that never ends is cut off after message_timeout.
    with socket.create_connection(strict.address, timeout=5) as conn:
        started, closed = time.monotonic(), False
        for _ in range(40):
            try:
                conn.sendall(b"9")  # a byte at a time, slower than a message may take
            except OSError:
                closed = True
                break
            time.sleep(0.1)
            if _ready(conn):
                closed = _closed(conn)
                break
        assert closed
        assert time.monotonic() - started < 3
    # An idle connection is closed after idle_timeout.
    with socket.create_connection(strict.address, timeout=5) as conn:
        assert conn.recv(10) == b""  # blocks until the bridge hangs up
    # More connections than allowed: the extra one is closed at once, the others served.
    held = [socket.create_connection(strict.address, timeout=5) for _ in range(3)]
    try:
        time.sleep(0.2)
        with socket.create_connection(strict.address, timeout=5) as extra:
            assert extra.recv(10) == b""
    finally:
        for conn in held:
            conn.close()
    time.sleep(0.3)
    still_answers(strict, kiosk, people.member)
    with in_app(app):
        assert db_session.scalar(select(func.count()).select_from(PartnerQuery)) == 1


def _ready(conn: socket.socket) -> bool:
    import select as select_module

    readable, _, _ = select_module.select([conn], [], [], 0)
    return bool(readable)


def _closed(conn: socket.socket) -> bool:
    conn.settimeout(3)
    try:
        return conn.recv(10) == b""
    except ConnectionResetError:
        return True


class BrokenBackend(FakeBackend):
    """The database does not answer."""

    def __init__(self) -> None:
        self.logged_in = False

    def login(self, login: str, password: str, peer: str) -> Kiosk | None:
        if self.logged_in:
            return KIOSK
        raise TimeoutError("no database")

    def patron(self, kiosk: Kiosk, patron_id: str, password: str | None) -> PatronAnswer:
        raise TimeoutError("no database")

    def still_active(self, kiosk: Kiosk) -> bool:
        raise TimeoutError("no database")


def test_a_database_that_does_not_answer_gets_a_sip2_answer(monkeypatch) -> None:
    from idservice.sip2 import protocol

    backend = BrokenBackend()
    conversation = Conversation(backend, "broken")
    assert conversation.handle(b"9300CNk1|COright|") == b"940\r"
    assert conversation.failed_logins == 0  # not the kiosk's failure
    backend.logged_in = True
    assert conversation.handle(b"9300CNk1|COright|") == b"941\r"
    monkeypatch.setattr(protocol, "RECHECK_EVERY", 0.0)
    answer = conversation.handle(b"2300120261207    101500AOKENT|AA9826010000000018|")
    assert answer.startswith(b"24YYYY") and b"|BLN|" in answer
    assert b"AFKent Card checks are unavailable: try again shortly|" in answer
    assert not conversation.closing
    is_sip2(answer)


def test_a_kiosk_hung_up_on_reads_the_end_not_a_reset(bridge: Sip2Server) -> None:
    """After too many unreadable frames the bridge hangs up. It used to close the socket
    outright, with the kiosk's last frame not all read: that sends a reset, and the kiosk
    read "connection reset" (a fuzz run failed on it) instead of the answers it had not
    read yet. Now the bridge stops writing and reads what still comes, for a moment."""
    from idservice.sip2.protocol import MAX_ERRORS_IN_A_ROW

    with (
        socket.create_connection(bridge.address, timeout=5) as conn,
        conn.makefile("rb") as reader,
    ):
        for _ in range(MAX_ERRORS_IN_A_ROW - 1):
            conn.sendall(b"\x01junk\r")
            assert read_answer(reader) == codec.resend_request()
        # The last straw is longer than the bridge reads: most of it is still unread when
        # the bridge hangs up.
        conn.sendall(b"\x01" * 20_000 + b"\r")
        time.sleep(0.3)
        assert read_answer(reader) == codec.resend_request()  # not lost to a reset
        assert read_answer(reader) == b""  # then the end
