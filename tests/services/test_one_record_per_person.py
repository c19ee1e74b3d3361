"""One record per person (issue 11, section 5): every way in looks for an existing record.

The report: ``/register`` and ``kentcard residents create`` each created a second "Ada
Lovelace, 1956-12-10, ME14 1XQ" without a word, and only the staff console refused (and
only an exact copy). Now the web creates the account as before, saying nothing different,
and puts the pair in front of staff; the command line and the staff console show the
likely matches and create nothing until the operator says it is a different person.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from idservice.cli import main
from idservice.db import db_session
from idservice.models.residents import Resident
from tests.accounts.conftest import in_app, submit, text

StaffClient = Callable[..., tuple[FlaskClient, Any]]

ADA_ON_THE_WEB = {
    "given_name": "Ada",
    "family_name": "Lovelace",
    "date_of_birth-day": "10",
    "date_of_birth-month": "12",
    "date_of_birth-year": "1956",
    "address_line_1": "Sessions House",
    "town": "Maidstone",
    "postcode": "ME14 1XQ",
    "email": "ada.second@example.com",
    "password": "a long enough password",
    "password_confirm": "a long enough password",
}
ADA_ON_THE_COMMAND_LINE = [
    "--given-name", "Ada", "--family-name", "Lovelace", "--dob", "1956-12-10",
    "--address", "Sessions House", "--town", "Maidstone", "--postcode", "ME14 1XQ",
]  # fmt: skip


def _residents(app: Flask) -> int:
    with in_app(app):
        return int(db_session.scalar(select(func.count()).select_from(Resident)) or 0)


def test_a_second_ada_lovelace_is_not_created_silently(
    app: Flask,
    client: FlaskClient,
    cli: CliRunner,
    staff_client: StaffClient,
    make_resident: Callable[..., Resident],
) -> None:
    existing = make_resident()  # Ada Lovelace, 10 December 1956, ME14 1XQ

    # The registration page still creates the account (it must not reveal the record) ...
    response = submit(client, "/register", ADA_ON_THE_WEB)
    assert response.status_code == 302
    assert _residents(app) == 2
    # ... and a Gateway officer finds the pair waiting to be checked.
    officer, _ = staff_client("gateway-officer")
    queue = officer.get("/staff/duplicates")
    assert queue.status_code == 200
    assert "Ada Lovelace" in text(queue) and "1 possible duplicate" in text(queue)

    # The command line shows the likely match and creates nothing.
    result = cli.invoke(main, ["residents", "create", *ADA_ON_THE_COMMAND_LINE])
    assert result.exit_code == 3, result.output
    assert existing.id in result.output and "--not-a-duplicate" in result.output
    assert _residents(app) == 2

    # The staff console shows the matches and waits for a confirmation.
    console, _ = staff_client("library-staff")
    page = submit(
        console,
        "/staff/residents/new",
        {**ADA_ON_THE_WEB, "email": "", "family_name": "LOVELACE", "channel": "phone"},
    )
    assert page.status_code == 400
    assert existing.id in text(page) and "This is a different person" in text(page)
    assert _residents(app) == 2


def test_a_typo_in_the_name_is_caught_too(
    app: Flask, cli: CliRunner, make_resident: Callable[..., Resident]
) -> None:
    existing = make_resident()
    args = [*ADA_ON_THE_COMMAND_LINE]
    args[args.index("Lovelace")] = "Lovelance"
    result = cli.invoke(main, ["residents", "create", *args, "--json"])
    assert result.exit_code == 3, result.output
    refused = json.loads(result.output)
    assert [m["reference"] for m in refused["possible_duplicates"]] == [existing.id]
    assert _residents(app) == 1
