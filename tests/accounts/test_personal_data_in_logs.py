"""No personal data in the logs, along every path that handles it, at DEBUG.

One resident with distinctive details registers (twice), confirms their address, sets up
an authenticator app, signs in with wrong and right passwords and codes, resets their
password; their mail is logged in development and then refused by an SMTP server; a
registrar feed about them is imported. Every record is captured (pytest's capture and a
handler set up as the app sets up its own) and searched for each detail in the forms it
could take.
"""

from __future__ import annotations

import io
import json
import logging
import re
import smtplib
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pyotp
import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from idservice.cli import main
from idservice.config import Settings
from idservice.db import db_session, session_factory
from idservice.logsafe import configure_logging
from idservice.models import Resident
from idservice.services import mail
from tests.accounts.conftest import in_app, link_in, submit, text

GIVEN, FAMILY = "Zebedee", "Quillfeatherstonehaugh"
EMAIL = "Zebedee.Quill@Example.org"
POSTCODE = "CT20 1PX"
PHONE = "07700 900 461"
BORN = date(1948, 6, 2)
PASSWORD = "a long and memorable passphrase"
NEW_PASSWORD = "another long memorable passphrase"
NEW_NAME = "Quillington-Oddfellowes"

#: Every form each detail could take in a log line.
NEEDLES = [
    GIVEN,
    FAMILY,
    NEW_NAME,
    EMAIL,
    EMAIL.lower(),
    EMAIL.lower().replace("@", "%40"),
    "zebedee.quill",
    POSTCODE,
    POSTCODE.lower(),
    POSTCODE.replace(" ", ""),
    POSTCODE.replace(" ", "+"),
    PHONE,
    PHONE.replace(" ", ""),
    BORN.isoformat(),
    "2/6/1948",
    "02/06/1948",
    PASSWORD,
    NEW_PASSWORD,
]


class RefusingSMTPHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP to refuse every recipient, repeating the address as servers do."""

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        self.reply("220 refusing.test ESMTP")
        for raw in self.rfile:
            command = raw.decode(errors="replace").strip()
            verb = command.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                self.reply("250 refusing.test")
            elif verb == "RCPT":
                address = re.sub(r"(?i)^RCPT TO:", "", command).strip()
                self.reply(f"550 5.1.1 {address}: Recipient address rejected: User unknown")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:  # MAIL, RSET, NOOP
                self.reply("250 OK")


@pytest.fixture
def refusing_smtp() -> Iterator[int]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), RefusingSMTPHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


class PlainSMTP(smtplib.SMTP):
    """The real client over a plain connection (the test server has no certificate)."""

    def starttls(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        return 220, b"plain in this test"


@pytest.fixture
def everything_logged(caplog: pytest.LogCaptureFixture) -> Iterator[Callable[[], str]]:
    """Root at DEBUG; pytest's capture plus a handler the app's logging set-up covers."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    configure_logging()
    caplog.set_level(logging.DEBUG)

    def everything() -> str:
        records = "\n".join(
            f"{r.getMessage()} {r.exc_text or ''} {r.stack_info or ''}" for r in caplog.records
        )
        return "\n".join([records, caplog.text, stream.getvalue()])

    yield everything
    root.removeHandler(handler)


@pytest.fixture
def cli(app: Flask, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    for name, value in {
        "KENTCARD_DATABASE_URL": settings.database_url,
        "KENTCARD_SECRET_KEY": settings.secret_key,
        "KENTCARD_INSTANCE_PATH": str(settings.instance_path),
        "KENTCARD_ISSUER": settings.issuer,
    }.items():
        monkeypatch.setenv(name, value)
    bind = session_factory.kw.get("bind")
    yield CliRunner()
    db_session.remove()
    session_factory.configure(bind=bind)


def _register(client: FlaskClient) -> Any:
    return submit(
        client,
        "/register",
        {
            "given_name": GIVEN,
            "family_name": FAMILY,
            "date_of_birth-day": str(BORN.day),
            "date_of_birth-month": str(BORN.month),
            "date_of_birth-year": str(BORN.year),
            "address_line_1": "3 Marine Parade",
            "address_line_2": "",
            "town": "Folkestone",
            "postcode": POSTCODE.lower(),
            "email": EMAIL,
            "phone": PHONE,
            "password": PASSWORD,
            "password_confirm": PASSWORD,
        },
    )


def _resident(app: Flask) -> Resident:
    with in_app(app):
        from idservice.services.residents import dao_get_resident_by_email

        resident = dao_get_resident_by_email(EMAIL.lower())
        assert resident is not None
        db_session.expunge(resident)
        return resident


def test_no_personal_data_reaches_the_logs(
    app: Flask,
    settings: Settings,
    outbox: Callable[..., Any],
    refusing_smtp: int,
    everything_logged: Callable[[], str],
    cli: CliRunner,
    tmp_path: Path,
) -> None:
    browser = app.test_client()
    # Registration, twice (the second is the "already registered" path), and confirming.
    assert _register(browser).status_code == 302
    assert _register(app.test_client()).status_code == 302
    assert browser.get(link_in(outbox("confirm_email")[0])).status_code in (200, 302)
    resident = _resident(app)

    # Sign-in: a wrong password, the right one, an authenticator app set up.
    wrong = submit(browser, "/sign-in", {"email": EMAIL, "password": "not the password"})
    assert wrong.status_code == 400
    assert submit(browser, "/sign-in", {"email": EMAIL, "password": PASSWORD}).status_code == 302
    html = text(browser.get("/account/security/authenticator-app"))
    found = re.search(r"secret=([A-Z2-7]+)", html)
    assert found
    secret = found.group(1)
    setup = submit(
        browser, "/account/security/authenticator-app", {"code": pyotp.TOTP(secret).now()}
    )
    assert setup.status_code == 302

    # Sign-in with codes: a wrong one, then the next right one.
    second = app.test_client()
    assert submit(second, "/sign-in", {"email": EMAIL, "password": PASSWORD}).status_code == 302
    assert submit(second, "/sign-in/code", {"code": "000000"}).status_code == 400
    later = pyotp.TOTP(secret).at(time.time() + 30)
    assert submit(second, "/sign-in/code", {"code": later}).status_code == 302

    # Password reset, for the address and for one with no account.
    third = app.test_client()
    submit(third, "/forgot-password", {"email": EMAIL})
    submit(third, "/forgot-password", {"email": "zebedee.quill@example.net"})
    reset = submit(
        third,
        link_in(outbox("reset_password")[0]),
        {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD},
    )
    assert reset.status_code == 302

    # Mail: logged in development above; now refused by an SMTP server.
    refused_settings = replace(settings, smtp_host="127.0.0.1", smtp_port=refusing_smtp)
    with in_app(app):
        report = mail.deliver_outbox(
            refused_settings, retries=1, smtp_factory=PlainSMTP, sleep=lambda _s: None
        )
    assert report.failed >= 3 and report.sent == 0

    # A registrar feed about the resident: a change of name, a refused row about them.
    feed = tmp_path / "feed.jsonl"
    rows = [
        {
            "kind": "name-changed",
            "date": date.today().isoformat(),
            "given_name": GIVEN,
            "family_name": FAMILY,
            "date_of_birth": BORN.isoformat(),
            "postcode": POSTCODE,
            "given_name_new": GIVEN,
            "family_name_new": NEW_NAME,
        },
        {
            "kind": "death",
            "date": date.today().isoformat(),
            "given_name": GIVEN,
            "family_name": FAMILY,
            "date_of_birth": "02/06/1948",
            "postcode": POSTCODE,
        },
    ]
    feed.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    imported = cli.invoke(main, ["life-events", "import", str(feed)])
    assert "1 applied, 1 refused" in imported.output, imported.output

    logged = everything_logged()
    # None of the resident's details anywhere ...
    lowered = logged.lower()
    present = [needle for needle in NEEDLES if needle.lower() in lowered]
    assert present == [], f"personal data in the logs: {present}"
    # ... although the paths were logged (so the search above searched something) ...
    assert f"resident {resident.id} registered" in logged
    assert re.search(r"email \d+ \(confirm_email\) queued", logged)
    # ... and the refusal was logged without the address, not even masked.
    refusals = [line for line in logged.splitlines() if "SMTPRecipientsRefused" in line]
    assert refusals and not any("[email]" in line for line in refusals)
