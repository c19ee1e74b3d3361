"""The outbox: mail is queued with the change that causes it and delivered by SMTP."""

from __future__ import annotations

import smtplib
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from idservice.cli import main
from idservice.services import mail
from tests.accounts.conftest import in_app, submit


class FakeSMTP:
    """Stands in for smtplib.SMTP; fails the first ``failures`` connections."""

    failures = 0
    sent: list[Any] = []
    calls = 0

    def __init__(self, host: str, port: int, timeout: float) -> None:
        type(self).calls += 1
        if type(self).calls <= type(self).failures:
            raise smtplib.SMTPServerDisconnected("gone")
        self.host, self.port = host, port

    def __enter__(self) -> FakeSMTP:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def starttls(self) -> None:
        pass

    def login(self, user: str, password: str) -> None:
        pass

    def send_message(self, message: Any) -> None:
        type(self).sent.append(message)


@pytest.fixture
def smtp() -> type[FakeSMTP]:
    FakeSMTP.failures, FakeSMTP.sent, FakeSMTP.calls = 0, [], 0
    return FakeSMTP


def _queue_one(client: FlaskClient, make_resident: Callable[..., Any]) -> Any:
    resident = make_resident()
    submit(client, "/forgot-password", {"email": resident.email})
    return resident


def test_deliver_sends_and_marks_sent(
    app: Flask, client: FlaskClient, make_resident: Any, outbox: Any, smtp: type[FakeSMTP]
) -> None:
    resident = _queue_one(client, make_resident)
    settings = replace(app.config["KENTCARD"], smtp_host="smtp.example", smtp_port=587)
    with in_app(app):
        report = mail.deliver_outbox(settings, smtp_factory=smtp, sleep=lambda _: None)
    assert (report.sent, report.failed) == (1, 0)
    [message] = smtp.sent
    assert message["To"] == resident.email
    assert message["Subject"] == "Reset your Kent account password"
    [stored] = outbox()
    assert stored.sent_at is not None and stored.attempts == 1
    with in_app(app):  # nothing left to send
        assert mail.deliver_outbox(settings, smtp_factory=smtp).sent == 0


def test_deliver_retries_with_backoff(
    app: Flask, client: FlaskClient, make_resident: Any, outbox: Any, smtp: type[FakeSMTP]
) -> None:
    _queue_one(client, make_resident)
    smtp.failures = 2
    waits: list[float] = []
    settings = replace(app.config["KENTCARD"], smtp_host="smtp.example")
    with in_app(app):
        report = mail.deliver_outbox(settings, smtp_factory=smtp, sleep=waits.append, backoff=1)
    assert (report.sent, report.failed) == (1, 0)
    assert waits == [1, 2]
    [stored] = outbox()
    assert stored.attempts == 3 and stored.last_error is None


def test_deliver_gives_up_after_max_attempts_without_storing_server_text(
    app: Flask, client: FlaskClient, make_resident: Any, outbox: Any, smtp: type[FakeSMTP]
) -> None:
    _queue_one(client, make_resident)
    smtp.failures = 100
    settings = replace(app.config["KENTCARD"], smtp_host="smtp.example")
    with in_app(app):
        first = mail.deliver_outbox(settings, smtp_factory=smtp, sleep=lambda _: None)
        second = mail.deliver_outbox(settings, smtp_factory=smtp, sleep=lambda _: None)
        third = mail.deliver_outbox(settings, smtp_factory=smtp, sleep=lambda _: None)
    assert (first.failed, second.failed, third.failed) == (1, 1, 0)
    [stored] = outbox()
    assert stored.attempts == mail.MAX_ATTEMPTS
    assert stored.last_error == "SMTPServerDisconnected"
    assert stored.sent_at is None


def test_development_mail_goes_to_the_log_without_the_recipient(
    client: FlaskClient, make_resident: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    resident = _queue_one(client, make_resident)
    assert "/reset-password/" in caplog.text
    assert resident.email not in caplog.text


def test_cli_deliver_refuses_without_smtp(monkeypatch: pytest.MonkeyPatch, settings: Any) -> None:
    monkeypatch.setenv("KENTCARD_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("KENTCARD_INSTANCE_PATH", str(settings.instance_path))
    monkeypatch.delenv("KENTCARD_SMTP_HOST", raising=False)
    result = CliRunner().invoke(main, ["mail", "deliver"])
    assert result.exit_code == 1
    assert "SMTP is not configured" in result.output


def test_cli_deliver_sends_the_outbox(
    monkeypatch: pytest.MonkeyPatch,
    settings: Any,
    client: FlaskClient,
    make_resident: Any,
    outbox: Any,
    smtp: type[FakeSMTP],
) -> None:
    _queue_one(client, make_resident)
    monkeypatch.setenv("KENTCARD_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("KENTCARD_INSTANCE_PATH", str(settings.instance_path))
    monkeypatch.setenv("KENTCARD_SMTP_HOST", "smtp.example")
    monkeypatch.setattr(smtplib, "SMTP", smtp)
    result = CliRunner().invoke(main, ["mail", "deliver"])
    assert result.exit_code == 0, result.output
    assert "Sent 1 email(s)" in result.output
    assert outbox()[0].sent_at is not None
