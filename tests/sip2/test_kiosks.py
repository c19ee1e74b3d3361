"""Registered kiosks: the commands, failed logins and the lock, a kiosk that can never get
a token, and the resident's "who checked" page listing kiosk look-ups."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idservice.db import db_session
from idservice.models import AuditRecord, OAuthClient, Resident, Sip2Kiosk
from idservice.models.base import utcnow
from idservice.sip2 import kiosks
from idservice.sip2.bridge import format_name
from idservice.sip2.server import Sip2Server
from tests.accounts.conftest import in_app
from tests.factories import sign_in_client
from tests.oauth.test_cli import cli, run
from tests.sip2.conftest import PASSWORD, KioskLogin, People, register, sip2_client

__all__ = ["cli"]


def test_kiosks_are_added_listed_and_changed_from_the_command_line(
    app: Flask, cli: CliRunner
) -> None:
    out = run(
        cli, "sip2", "kiosks", "add", "--name", "Ashford Gateway kiosk", "--login", "ash-k1",
        "--location", "Ashford Gateway", "--institution", "KENT", "--pin", "card", "--json",
    )  # fmt: skip
    added = json.loads(out)
    assert added["login"] == "ash-k1" and added["pin_mode"] == "card"
    assert added["name_format"] == "initials" and len(added["password"]) >= 20
    listed = json.loads(run(cli, "sip2", "kiosks", "list", "--json"))
    assert [row["login"] for row in listed] == ["ash-k1"]
    assert "password" not in listed[0] and "password_hash" not in listed[0]
    with in_app(app):
        row = db_session.scalar(select(Sip2Kiosk))
        assert row is not None and row.password_hash.startswith("$argon2id$")
        client = db_session.scalar(
            select(OAuthClient).where(OAuthClient.client_id == row.client_id)
        )
        assert client is not None
        # A kiosk is a registered client that can never obtain a token.
        assert (client.grant_types, client.scope, client.client_secret_hash) == ([], "", None)
        assert client.name == "Ashford Gateway kiosk"
    changed = run(cli, "sip2", "kiosks", "update", "ash-k1", "--name-format", "family-given")
    assert "Changed: name_format" in changed
    renewed = run(cli, "sip2", "kiosks", "update", "ash-k1", "--new-password")
    assert "New SIP2 password for ash-k1: " in renewed
    refused = cli.invoke(
        __import__("idservice.cli", fromlist=["main"]).main,
        ["sip2", "kiosks", "add", "--name", "X", "--login", "ash-k1"],
    )
    assert refused.exit_code == 2 and "already logs in as ash-k1" in refused.output
    with in_app(app):
        actions = db_session.scalars(
            select(AuditRecord.action).where(AuditRecord.action.like("sip2.%"))
        ).all()
    assert actions == ["sip2.kiosk_registered", "sip2.kiosk_changed", "sip2.kiosk_changed"]


@pytest.mark.parametrize(
    ("values", "why"),
    [
        ({"login": "has space"}, "Login must be"),
        ({"service": "swimming"}, "Unknown service code"),
        ({"name_format": "full"}, "Name format must be one of"),
        ({"password": "short"}, "12 to 64 printable characters"),
        ({"institution_id": "A|B"}, "without '|'"),
    ],
)
def test_what_a_kiosk_registration_refuses(app: Flask, values: dict[str, str], why: str) -> None:
    settings = {"name": "Kiosk", "login": "k1", **values}
    with in_app(app), pytest.raises(kiosks.KioskError, match=why):
        kiosks.register_kiosk(**settings)


def test_failed_logins_lock_out_their_address_until_unlocked(app: Flask, kiosk: KioskLogin) -> None:
    there, here = "192.0.2.7", "192.0.2.8"
    with in_app(app):
        for _ in range(kiosks.LOCK_AFTER):
            assert kiosks.authenticate(kiosk.login, "guess-guess-guess", there).kiosk is None
        locked = kiosks.authenticate(kiosk.login, PASSWORD, there)
        assert (locked.kiosk, locked.outcome) == (None, "locked")
        # The kiosk at its own address is not locked out by someone else's guesses.
        assert kiosks.authenticate(kiosk.login, PASSWORD, here).kiosk is not None
        assert kiosks.list_kiosks()[0].locked_addresses == 1
        later = utcnow() + timedelta(minutes=16)
        assert kiosks.authenticate(kiosk.login, PASSWORD, there, now=later).kiosk is not None
        for _ in range(kiosks.LOCK_AFTER):
            kiosks.authenticate(kiosk.login, "guess-guess-guess", there)
        changed, _ = kiosks.update_kiosk(kiosk.login, unlock=True)
        assert changed == ["lock"]
        assert kiosks.authenticate(kiosk.login, PASSWORD, there).kiosk is not None
        audited = db_session.scalars(
            select(AuditRecord.details).where(AuditRecord.action == "sip2.kiosk_locked")
        ).all()
    assert [(d["address"], d["failed_logins"]) for d in audited] == [(there, 5), (there, 5)]


def test_old_failures_stop_counting(app: Flask, kiosk: KioskLogin) -> None:
    with in_app(app):
        start = utcnow()
        for _ in range(kiosks.LOCK_AFTER - 1):
            kiosks.authenticate(kiosk.login, "guess-guess-guess", "192.0.2.9", now=start)
        later = start + kiosks.LOCK_FOR + timedelta(seconds=1)
        kiosks.authenticate(kiosk.login, "guess-guess-guess", "192.0.2.9", now=later)
        assert kiosks.authenticate(kiosk.login, PASSWORD, "192.0.2.9", now=later).kiosk


def test_an_address_that_keeps_failing_is_refused_unchecked() -> None:
    from idservice.sip2.server import LoginThrottle

    now = [0.0]
    throttle = LoginThrottle(limit=3, window=60, clock=lambda: now[0])
    for _ in range(3):
        assert not throttle.blocked("192.0.2.1")
        throttle.failed("192.0.2.1")
    assert throttle.blocked("192.0.2.1") and not throttle.blocked("192.0.2.2")
    now[0] = 61.0
    assert not throttle.blocked("192.0.2.1")


def test_a_locked_kiosk_is_refused_over_sip2(
    app: Flask, bridge: Sip2Server, kiosk: KioskLogin
) -> None:
    with in_app(app):
        for _ in range(kiosks.LOCK_AFTER):
            kiosks.authenticate(kiosk.login, "guess-guess-guess", "127.0.0.1")
    client = sip2_client(bridge)
    answer = client.get_response(client.sip_login_request(kiosk.login, kiosk.password))
    assert client.sip_login_response(answer)["fixed"]["Ok"] == "0"
    client.disconnect()


def test_three_failed_logins_end_the_connection(bridge: Sip2Server, kiosk: KioskLogin) -> None:
    from tests.sip2.conftest import raw

    wrong = f"9300CN{kiosk.login}|COnot-it|\r".encode()
    answers = raw(bridge, wrong, wrong, wrong)
    assert answers == [b"940\r"] * 3
    import socket

    with socket.create_connection(bridge.address, timeout=5) as conn:
        for _ in range(3):
            conn.sendall(wrong)
        received = b""
        while chunk := conn.recv(100):
            received += chunk
        assert received == b"940\r" * 3  # and then the bridge hung up


@pytest.mark.parametrize(
    ("name_format", "expected"),
    [
        ("initials", "J M S"),
        ("initial-family", "J M Smith"),
        ("family-given", "Smith, Jane Mary"),
        ("none", ""),
    ],
)
def test_name_formats(name_format: str, expected: str) -> None:
    assert format_name("Jane Mary", "Smith", name_format) == expected


def test_the_resident_sees_the_kiosk_on_who_checked(
    app: Flask, client: FlaskClient, bridge: Sip2Server, kiosk: KioskLogin, people: People
) -> None:
    kiosk_client = sip2_client(bridge)
    login = kiosk_client.sip_login_request(kiosk.login, kiosk.password)
    assert kiosk_client.sip_login_response(kiosk_client.get_response(login))["fixed"]["Ok"] == "1"
    kiosk_client.patron = people.member
    kiosk_client.get_response(kiosk_client.sip_patron_status_request())
    kiosk_client.disconnect()
    with in_app(app):
        resident = db_session.get(Resident, people.member_id)
        assert resident is not None
        sign_in_client(app, client, resident)
    html = client.get("/account/entitlement-checks").get_data(as_text=True)
    assert "Maidstone Library kiosk 1 asked about: Library membership." in html
    assert "They were told: that you have it." in html
    assert "They found you by your Kent Card, at a library self-service kiosk." in html
    assert people.member not in html
    activity = client.get("/account/activity").get_data(as_text=True)
    assert "A service checked whether you have an entitlement" in activity
    assert "<td>Maidstone Library kiosk 1</td>" in activity


def test_a_kiosk_withdrawn_while_connected_is_cut_off(
    app: Flask, bridge: Sip2Server, kiosk: KioskLogin, people: People, monkeypatch
) -> None:
    from idservice.sip2 import protocol

    monkeypatch.setattr(protocol, "RECHECK_EVERY", 0.0)
    client = sip2_client(bridge)
    login = client.sip_login_request(kiosk.login, kiosk.password)
    assert client.sip_login_response(client.get_response(login))["fixed"]["Ok"] == "1"
    with in_app(app):
        kiosks.update_kiosk(kiosk.login, active=False)
    client.patron = people.member
    answer = client.sip_patron_status_response(
        client.get_response(client.sip_patron_status_request())
    )
    assert answer["variable"]["BL"] == ["N"]
    assert answer["variable"]["AF"] == ["Log in first (SIP2 message 93)"]


def test_another_kiosk_registered_separately(app: Flask) -> None:
    first = register(app, "k-a", name="Kiosk A")
    second = register(app, "k-b", name="Kiosk B")
    assert first.client_id != second.client_id


def test_kentcard_sip2_serve_answers_and_stops_on_sigterm(
    app: Flask, settings, kiosk: KioskLogin, people: People
) -> None:
    """The command as the library's server runs it, in its own process."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time
    from pathlib import Path

    from tests.sip2.conftest import read_answer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = dict(
        os.environ,
        KENTCARD_DATABASE_URL=settings.database_url,
        KENTCARD_SECRET_KEY=settings.secret_key,
        KENTCARD_INSTANCE_PATH=str(settings.instance_path),
    )
    kentcard = Path(sys.executable).parent / "kentcard"
    process = subprocess.Popen(
        [str(kentcard), "sip2", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                conn = socket.create_connection(("127.0.0.1", port), timeout=5)
                break
            except OSError:
                assert time.monotonic() < deadline, process.stderr.read1().decode()  # type: ignore[union-attr]
                time.sleep(0.2)
        with conn, conn.makefile("rb") as reader:
            conn.sendall(f"9300CN{kiosk.login}|CO{kiosk.password}|\r".encode())
            assert read_answer(reader) == b"941\r"
            conn.sendall(f"2300120261207    101500AOKENT|AA{people.member}|AC|AD|\r".encode())
            assert b"|BLY|" in read_answer(reader)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
