"""The SIP2 bridge served on a free port over the test app, registered kiosks, residents
with cards, and the third-party client (PyPI's ``sip2``) set up as a kiosk would be."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask

from idservice.models.cards import CARD_HOTLISTED
from idservice.sip2 import kiosks
from idservice.sip2.server import AppBackend, Options, Sip2Server
from tests.accounts.conftest import in_app
from tests.cards.conftest import blank_card, grant, issuer, resident_and_actor
from tests.partner_api.conftest import UNKNOWN_CARD, active_card, new_resident

__all__ = ["UNKNOWN_CARD", "blank_card", "issuer", "resident_and_actor"]

PASSWORD = "kiosk-password-for-tests"
INSTITUTION = "KENTLIBS"


@dataclass
class KioskLogin:
    login: str
    password: str
    name: str
    client_id: str


def register(app: Flask, login: str = "mdst-k1", **values: Any) -> KioskLogin:
    settings: dict[str, Any] = {
        "name": "Maidstone Library kiosk 1",
        "location": "Maidstone Library",
        "institution_id": INSTITUTION,
        "password": PASSWORD,
    }
    settings.update(values)
    with in_app(app):
        view, password = kiosks.register_kiosk(login=login, **settings)
    return KioskLogin(login, password, view.name, view.client_id)


@pytest.fixture
def kiosk(app: Flask) -> KioskLogin:
    return register(app)


@pytest.fixture
def bridge(app: Flask) -> Iterator[Sip2Server]:
    yield from serve(app, Options(port=0, db_connections=2))


def serve(app: Flask, options: Options) -> Iterator[Sip2Server]:
    backend = AppBackend(app, options)
    server = Sip2Server(backend, options).start()
    try:
        yield server
    finally:
        server.shutdown()
        backend.close()


@dataclass
class People:
    member: str
    non_member: str
    hotlisted: str
    member_id: str


@pytest.fixture
def people(app: Flask) -> People:
    """Card numbers: a library member, a resident without membership, and a member whose
    card was reported lost."""
    member = new_resident(app, given_name="Jane Mary", family_name="Smith")
    other = new_resident(app, given_name="Omar", family_name="Hassan")
    lost = new_resident(app, given_name="Lee", family_name="Brown")
    grant(app, member, "library")
    grant(app, lost, "library")
    return People(
        active_card(app, member),
        active_card(app, other),
        active_card(app, lost, status=CARD_HOTLISTED, hotlist_reason="lost"),
        member,
    )


def sip2_client(server: Sip2Server, *, checksums: bool = True) -> Any:
    """PyPI's ``sip2`` client (module ``Sip2``) connected to the bridge, as a kiosk."""
    from Sip2.sip2 import Sip2

    client = Sip2()
    host, port = server.address
    client.hostName, client.hostPort = host, port
    client.tlsEnable = False
    client.withCrc = client.withSeq = checksums
    client.institutionId = INSTITUTION
    client.scLocation = "Maidstone Library"
    client.socketTimeout = 5
    client.log = logging.getLogger("tests.sip2.client")  # not its own file in the cwd
    client.connect()
    return client


def raw(server: Sip2Server, *frames: bytes, timeout: float = 5.0) -> list[bytes]:
    """Send frames on one connection; the answer to each (up to its carriage return)."""
    answers = []
    with (
        socket.create_connection(server.address, timeout=timeout) as conn,
        conn.makefile("rb") as reader,  # closed too, or the socket stays open
    ):
        for frame in frames:
            conn.sendall(frame)
            answers.append(read_answer(reader))
    return answers


def read_answer(reader: Any) -> bytes:
    data = bytearray()
    while not data.endswith(b"\r"):
        byte = reader.read(1)
        if not byte:
            break
        data += byte
    return bytes(data)
