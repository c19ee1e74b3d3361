"""One record per person (issue 11, section 5): every way in looks for an existing record.

The report: ``/register`` and ``kentcard residents create`` each created a second "Ada
Lovelace, 1956-12-10, ME14 1XQ" without a word, and only the staff console refused (and
only an exact copy). Now the web creates the account as before, saying nothing different,
and puts the pair in front of staff; the command line and the staff console show the
likely matches and create nothing until the operator says it is a different person.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from idservice.cli import main
from idservice.db import db_session
from idservice.models import PossibleDuplicate
from idservice.models.duplicates import DUPLICATE_NOT_SAME, DUPLICATE_OPEN
from idservice.models.residents import Resident
from tests.accounts.conftest import in_app, outbox, submit, text

StaffClient = Callable[..., tuple[FlaskClient, Any]]
CSRF = re.compile(r'name="csrf_token" value="[^"]+"')
__all__ = ["outbox"]  # a fixture

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


# --- the command line -----------------------------------------------------------------------

WHY = "Twin sister: both passports seen at the desk"


def _pairs(app: Flask) -> list[PossibleDuplicate]:
    with in_app(app):
        rows = list(db_session.scalars(select(PossibleDuplicate)))
        db_session.expunge_all()
        return rows


def test_the_command_line_shows_the_match_and_audits_the_look(
    app: Flask, cli: CliRunner, make_resident: Callable[..., Resident], audit_rows
) -> None:
    existing = make_resident()
    result = cli.invoke(
        main, ["residents", "create", *ADA_ON_THE_COMMAND_LINE, "--actor", "pat.officer"]
    )
    assert result.exit_code == 3
    assert "Not created: an existing record may be the same person." in result.output
    assert (
        f"{existing.id}  Ada Lovelace, born 1956-12-10, ME14 1XQ: same date of birth, same "
        "address and postcode, name 'Ada Lovelace' the same as 'Ada Lovelace' (1.00)"
    ) in result.output
    [look] = audit_rows("resident.viewed", resident_id=existing.id)
    assert (look.actor_type, look.actor_id, look.channel) == (
        "staff",
        "pat.officer",
        "staff-assisted",
    )
    assert look.details["screen"] == "kentcard residents create"
    assert _residents(app) == 1 and _pairs(app) == []


def test_not_a_duplicate_creates_the_record_and_keeps_the_reason(
    app: Flask, cli: CliRunner, make_resident: Callable[..., Resident], audit_rows
) -> None:
    existing = make_resident(given_name="Daniel")  # twins born the same day
    args = [*ADA_ON_THE_COMMAND_LINE, "--given-name", "Danielle", "--not-a-duplicate", WHY]
    args.append("--json")
    result = cli.invoke(main, ["residents", "create", *args])
    assert result.exit_code == 0, result.output
    created = json.loads(result.output)
    assert [m["reference"] for m in created["not_duplicates"]] == [existing.id]
    [pair] = _pairs(app)
    assert (pair.new_resident_id, pair.existing_resident_id) == (
        created["resident_id"],
        existing.id,
    )
    assert (pair.status, pair.note, pair.channel) == (DUPLICATE_NOT_SAME, WHY, "staff-assisted")
    trail = audit_rows("duplicate.not_same")
    assert sorted(a.resident_id for a in trail) == sorted([existing.id, created["resident_id"]])
    assert {(a.actor_id, a.reason) for a in trail} == {("cli", WHY)}


def test_not_a_duplicate_without_a_match_changes_nothing_else(app: Flask, cli: CliRunner) -> None:
    result = cli.invoke(
        main, ["residents", "create", *ADA_ON_THE_COMMAND_LINE, "--not-a-duplicate", WHY]
    )
    assert result.exit_code == 0, result.output
    assert "Recorded as a different person" not in result.output
    assert _residents(app) == 1 and _pairs(app) == []


@pytest.mark.parametrize(
    ("reason", "message"),
    [
        ("twin", "Reason this is a different person must be 5 characters or more"),
        ("", "Enter how you know this is a different person"),
        ("Twin\x1b[2J", "Reason this is a different person must not contain special characters"),
    ],
)
def test_a_reason_is_checked_like_any_value(
    app: Flask, cli: CliRunner, make_resident: Callable[..., Resident], reason: str, message: str
) -> None:
    make_resident()
    args = [*ADA_ON_THE_COMMAND_LINE, "--not-a-duplicate", reason]
    result = cli.invoke(main, ["residents", "create", *args])
    assert result.exit_code == 2, result.output
    assert "--not-a-duplicate" in result.output and message in result.output
    assert _residents(app) == 1


def test_the_help_names_the_flag_and_the_exit_status(cli: CliRunner) -> None:
    words = " ".join(cli.invoke(main, ["residents", "create", "--help"]).output.split())
    assert "--not-a-duplicate REASON" in words
    assert "3 when an existing record may be the same person" in words


# --- the registration page ------------------------------------------------------------------


def _page_after_registering(client: FlaskClient, data: dict[str, str]) -> tuple[Any, str]:
    response = submit(client, "/register", data)
    follow = client.get(response.headers["Location"])
    return (response.status_code, response.headers["Location"]), CSRF.sub("", text(follow))


def test_the_registration_page_says_the_same_with_a_match_or_without(
    app: Flask,
    make_resident: Callable[..., Resident],
    outbox: Callable[..., list[Any]],
    audit_rows,
) -> None:
    existing = make_resident()
    with_match = _page_after_registering(app.test_client(), ADA_ON_THE_WEB)
    without = _page_after_registering(
        app.test_client(),
        {**ADA_ON_THE_WEB, "date_of_birth-year": "1957", "email": "someone.else@example.com"},
    )
    assert with_match == without
    assert "If you already have a record with us" in with_match[1]
    assert "a member of staff will check" in with_match[1]
    assert [m.template for m in outbox()] == ["confirm_email", "confirm_email"]
    # The pair is kept for staff ...
    [pair] = _pairs(app)
    assert (pair.existing_resident_id, pair.status, pair.channel) == (
        existing.id,
        DUPLICATE_OPEN,
        "web",
    )
    # ... and the new account's own trail (which its holder can read) is the same as any.
    with in_app(app):
        other = db_session.scalar(
            select(Resident.id).where(Resident.email == "someone.else@example.com")
        )
    trails = [
        [a.action for a in audit_rows(resident_id=resident_id)]
        for resident_id in (pair.new_resident_id, other)
    ]
    assert trails[0] == trails[1] and trails[0][0] == "resident.created"
    assert not any(action.startswith("duplicate.") for action in trails[0])
    assert [a.resident_id for a in audit_rows("duplicate.suspected")] == [existing.id]


def test_an_address_in_use_with_a_match_makes_no_pair(
    app: Flask, client: FlaskClient, make_resident: Callable[..., Resident]
) -> None:
    existing = make_resident()
    response = submit(client, "/register", {**ADA_ON_THE_WEB, "email": existing.email})
    assert response.status_code == 302
    assert _residents(app) == 1 and _pairs(app) == []
