"""The same value refused with the same message on every way in: the registration page,
the staff console, ``kentcard residents create`` and the registrar's feed."""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from idservice.cli import main
from idservice.db import db_session
from idservice.models.residents import Resident
from tests.accounts.conftest import in_app, submit, text
from tests.accounts.test_registration import GOOD
from tests.staff.test_console import NEW_RESIDENT

StaffClient = Callable[..., tuple[FlaskClient, Any]]

CLI_GOOD = {
    "--given-name": "Grace",
    "--family-name": "Hopper",
    "--dob": "1948-06-02",
    "--address": "3 Marine Parade",
    "--town": "Folkestone",
    "--postcode": "CT20 1PX",
}


@dataclass(frozen=True)
class Case:
    """A field, a value it refuses and the message; ``option`` is the command line's."""

    field: str
    value: str
    message: str
    option: str

    @property
    def id(self) -> str:
        return f"{self.field}-{self.message[:30]}"


SPECIAL = "must not contain special characters"
PHONE_MESSAGE = "Enter a telephone number, like 01632 960 001, 07700 900 982 or +44 808 157 0192"
CASES = [
    Case("given_name", "Ada\x07", f"First name {SPECIAL}", "--given-name"),
    Case("given_name", "\u202eecalevoL", f"First name {SPECIAL}", "--given-name"),
    Case("family_name", "L" * 101, "Last name must be 100 characters or fewer", "--family-name"),
    Case("family_name", "Love\x1b[2Jlace", f"Last name {SPECIAL}", "--family-name"),
    Case(
        "address_line_1",
        "",
        "Enter address line 1, typically the building and street",
        "--address",
    ),
    Case(
        "address_line_1",
        "1 High Street " * 215,
        "Address line 1 must be 200 characters or fewer",
        "--address",
    ),
    Case("address_line_1", "1 High St\x1b", f"Address line 1 {SPECIAL}", "--address"),
    Case("town", "Maid\u200bstone", f"Town or city {SPECIAL}", "--town"),
    Case("postcode", "NOT A PC", "Enter a real UK postcode, like ME14 1XQ", "--postcode"),
    Case("postcode", "NOT A POSTCODE", "Postcode must be 10 characters or fewer", "--postcode"),
    Case(
        "email",
        "not an email",
        "Enter an email address in the correct format, like name@example.com",
        "--email",
    ),
    Case("phone", "call me", PHONE_MESSAGE, "--phone"),
]
#: Fields a feed line carries with ``_new`` (a change of name or address).
FEED_FIELDS = {"given_name", "family_name", "address_line_1", "town", "postcode"}


def _count(app: Flask) -> int:
    with in_app(app):
        return int(db_session.scalar(select(func.count()).select_from(Resident)) or 0)


def _page_says(response: Any, message: str) -> bool:
    return message in html.unescape(text(response))


def _cli_args(values: dict[str, str]) -> list[str]:
    return [part for option, value in values.items() for part in (option, value)]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_the_same_value_gets_the_same_message_everywhere(
    app: Flask,
    client: FlaskClient,
    staff_client: StaffClient,
    cli: CliRunner,
    make_resident: Callable[..., Resident],
    tmp_path: Path,
    case: Case,
) -> None:
    # The registration page.
    page = submit(client, "/register", {**GOOD, case.field: case.value})
    assert page.status_code == 400
    assert _page_says(page, case.message)
    # The staff console's registration of a resident.
    console, _staff = staff_client("library-staff")
    staff_page = submit(console, "/staff/residents/new", {**NEW_RESIDENT, case.field: case.value})
    assert staff_page.status_code in (200, 400)
    assert _page_says(staff_page, case.message)
    assert _count(app) == 0
    # The command line: a usage error (exit status 2) naming the option, nothing stored.
    result = cli.invoke(
        main, ["residents", "create", *_cli_args(CLI_GOOD), case.option, case.value]
    )
    assert result.exit_code == 2, result.output
    assert case.option in result.output and case.message in result.output
    assert _count(app) == 0
    # The registrar's feed: the line is refused with the field's name and the same message.
    if case.field not in FEED_FIELDS:
        return
    resident = make_resident()
    kind = "name-changed" if "name" in case.field else "address-changed"
    line: dict[str, Any] = {"kind": kind, "date": date.today().isoformat()}
    line.update({"resident_id": resident.id, "given_name_new": "Ada", "family_name_new": "King"})
    line.update({"address_line_1_new": "1 Castle Hill", "town_new": "Dover"})
    line.update({"postcode_new": "CT16 1HU", f"{case.field}_new": case.value})
    feed = tmp_path / "feed.jsonl"
    feed.write_text(json.dumps(line) + "\n")
    imported = cli.invoke(main, ["life-events", "import", str(feed)])
    assert imported.exit_code == 1
    assert f"line 1: not applied: {case.field}_new: {case.message}" in imported.output
    assert "0 applied, 1 refused, 0 unchanged" in imported.output


@pytest.mark.parametrize(
    ("dob", "message"),
    [
        ("1899-12-31", "Date of birth must be after 1900"),
        ("2999-01-01", "Date of birth must be in the past"),
        ("1948-02-30", "Date of birth must be a real date"),
    ],
)
def test_a_date_of_birth_gets_the_same_message_as_the_date_boxes(
    app: Flask, client: FlaskClient, cli: CliRunner, dob: str, message: str
) -> None:
    year, month, day = dob.split("-")
    boxes = {"date_of_birth-day": day, "date_of_birth-month": month, "date_of_birth-year": year}
    page = submit(client, "/register", {**GOOD, **boxes})
    assert page.status_code == 400 and _page_says(page, message)
    result = cli.invoke(main, ["residents", "create", *_cli_args({**CLI_GOOD, "--dob": dob})])
    assert result.exit_code == 2 and message in result.output
    assert _count(app) == 0


def test_residents_create_stores_values_as_the_web_does(app: Flask, cli: CliRunner) -> None:
    values = {**CLI_GOOD, "--given-name": "  Grace ", "--postcode": "ct201px"}
    result = cli.invoke(
        main, ["residents", "create", *_cli_args(values), "--phone", "+44 7700 900 982", "--json"]
    )
    assert result.exit_code == 0, result.output
    resident_id = json.loads(result.output)["resident_id"]
    with in_app(app):
        stored = db_session.get(Resident, resident_id)
        assert stored is not None
        assert (stored.given_name, stored.postcode, stored.phone, stored.address_line_2) == (
            "Grace",
            "CT20 1PX",
            "07700900982",
            None,
        )


def test_residents_create_help_says_what_a_refusal_looks_like(cli: CliRunner) -> None:
    result = cli.invoke(main, ["residents", "create", "--help"])
    words = " ".join(result.output.split())
    assert "same rules and messages as the registration page" in words
    assert "Exit status 2 when a value is refused" in words
