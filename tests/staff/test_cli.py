"""``kentcard staff create`` and the demo Gateway officer."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pyotp
import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import select

from idservice.cli import main
from idservice.config import Settings
from idservice.db import db_session, session_factory
from idservice.models import StaffMember
from idservice.services.passwords import verify_password
from idservice.staff.demo import DEMO_EMAIL, DEMO_PASSWORD
from tests.accounts.conftest import in_app, submit, text


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


def _stored(app: Flask, email: str) -> StaffMember | None:
    with in_app(app):
        from idservice.staff.dao import dao_get_staff_by_email

        staff = dao_get_staff_by_email(email)
        if staff is not None:
            db_session.expunge(staff)
        return staff


def test_create_with_password_from_stdin_as_json(app: Flask, cli: CliRunner) -> None:
    result = cli.invoke(
        main,
        ["staff", "create", "--email", "Admin@Kent.example", "--name", "Ann Admin",
         "--role", "administrator", "--password-stdin", "--json"],
        input="a long admin password\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["email"] == "admin@kent.example" and data["role"] == "administrator"
    assert "password" not in data
    staff = _stored(app, "admin@kent.example")
    assert staff is not None and staff.id == data["staff_id"]
    assert verify_password(staff.password_hash, "a long admin password")
    assert staff.totp_enabled_at is None  # set up at the first sign-in


def test_create_makes_up_a_password_and_prints_it_once(app: Flask, cli: CliRunner) -> None:
    result = cli.invoke(
        main, ["staff", "create", "--email", "lib@kent.example", "--name", "Lib", "--role",
               "library-staff", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    password = json.loads(result.output)["password"]
    staff = _stored(app, "lib@kent.example")
    assert staff is not None and verify_password(staff.password_hash, password)


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["--role", "caretaker"], "", "Invalid value for '--role'"),
        (["--role", "auditor", "--password-stdin"], "short\n", "10 characters or more"),
        (["--role", "auditor", "--email", "not-an-email"], "", "correct format"),
    ],
)
def test_create_refuses_bad_input(
    app: Flask, cli: CliRunner, args: list[str], stdin: str, message: str
) -> None:
    base = ["staff", "create", "--name", "X Y"]
    if "--email" not in args:
        base += ["--email", "x@kent.example"]
    result = cli.invoke(main, [*base, *args], input=stdin)
    assert result.exit_code != 0
    assert message in result.output
    assert _stored(app, "x@kent.example") is None


def test_create_refuses_a_second_account_with_the_same_email(app: Flask, cli: CliRunner) -> None:
    args = ["staff", "create", "--email", "dup@kent.example", "--name", "D", "--role", "auditor"]
    assert cli.invoke(main, args).exit_code == 0
    second = cli.invoke(main, args)
    assert second.exit_code != 0 and "already exists" in second.output


def test_demo_adds_a_gateway_officer_who_can_sign_in_with_the_printed_secret(
    app: Flask, cli: CliRunner
) -> None:
    result = cli.invoke(main, ["demo"])
    assert result.exit_code == 0, result.output
    match = re.search(r"authenticator app secret ([A-Z2-7]+)", result.output)
    assert match and DEMO_EMAIL in result.output and DEMO_PASSWORD in result.output
    again = cli.invoke(main, ["demo"])
    assert match.group(1) in again.output  # run twice: the same officer, not a second one
    client = app.test_client()
    submit(client, "/staff/sign-in", {"email": DEMO_EMAIL, "password": DEMO_PASSWORD})
    response = submit(client, "/staff/sign-in/code", {"code": pyotp.TOTP(match.group(1)).now()})
    assert response.status_code == 302
    assert "Gateway officer" in text(client.get("/staff/"))


def test_resume_sign_in_forgets_the_failures_counted_against_an_account(
    app: Flask, cli: CliRunner
) -> None:
    from idservice.models import SignInFailure
    from idservice.services import throttle
    from idservice.staff.auth import throttle_account

    email = "gateway@kent.example"
    cli.invoke(main, ["staff", "create", "--email", email, "--name", "G", "--role",
                      "gateway-officer", "--json"])  # fmt: skip
    with in_app(app):
        for number in range(3):
            throttle.record_failure(throttle_account(email), f"203.0.113.{number}")
        db_session.commit()
    result = cli.invoke(main, ["staff", "resume-sign-in", "--email", email.upper()])
    assert result.exit_code == 0, result.output
    assert "Sign-in resumed" in result.output
    with in_app(app):
        keys = set(db_session.scalars(select(SignInFailure.account_key)))
        assert throttle.account_key(throttle_account(email)) not in keys
        assert len(keys) == 6  # each address's own counts stay
    unknown = cli.invoke(main, ["staff", "resume-sign-in", "--email", "nobody@kent.example"])
    assert unknown.exit_code == 1
    assert "no staff account" in unknown.output
