"""``kentcard life-events import``: every line checked with the shared rules, each applied
or refused on its own, a summary at the end, and no personal data in what it prints."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from sqlalchemy import text

from idservice import validation
from idservice.cli import main
from idservice.db import db_session
from idservice.models.residents import Resident
from idservice.services import life_events
from tests.accounts.conftest import in_app

TODAY = date.today().isoformat()


def _import(cli: CliRunner, tmp_path: Path, lines: list[Any]) -> Result:
    feed = tmp_path / "feed.jsonl"
    feed.write_text(
        "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    )
    return cli.invoke(main, ["life-events", "import", str(feed)])


def _stored(app: Flask, resident_id: str) -> Resident:
    with in_app(app):
        resident = db_session.get(Resident, resident_id)
        assert resident is not None
        db_session.expunge(resident)
        return resident


def _rename(resident_id: str, **values: Any) -> dict[str, Any]:
    line = {"kind": "name-changed", "date": TODAY, "resident_id": resident_id}
    return {**line, "given_name_new": "Augusta", "family_name_new": "King", **values}


def _move(resident_id: str, **values: Any) -> dict[str, Any]:
    line = {"kind": "address-changed", "date": TODAY, "resident_id": resident_id}
    line.update({"address_line_1_new": "1 Castle Hill", "town_new": "Dover"})
    return {**line, "postcode_new": "CT16 1HU", **values}


def test_values_the_web_refuses_are_refused_line_by_line_and_the_rest_applied(
    app: Flask, cli: CliRunner, make_resident: Callable[..., Resident], tmp_path: Path
) -> None:
    """Finding 6: null stored as "None", a list as "['x']", control characters, U+202E and
    "NOT A POSTCODE" all went in; now each line is refused and the next one still applied."""
    ada = make_resident()
    mover = make_resident(given_name="Mary", family_name="Somerville")
    result = _import(
        cli,
        tmp_path,
        [
            _rename(ada.id, given_name_new=None),
            _rename(ada.id, given_name_new=["x"]),
            _rename(ada.id, family_name_new="King\x1b[2J\x07"),
            _rename(ada.id, given_name_new="\u202eatsuguA"),
            _move(ada.id, postcode_new="NOT A POSTCODE"),
            _move(ada.id, postcode_new="NOT A PC"),
            _move(ada.id, address_line_1_new="x" * 3000),
            _move(mover.id),
        ],
    )
    assert result.exit_code == 1
    out = result.output
    assert "line 1: not applied: given_name_new: Enter your first name" in out
    assert "line 2: not applied: given_name_new: First name must be text" in out
    assert "line 3: not applied: family_name_new: Last name must not contain special" in out
    assert "line 4: not applied: given_name_new: First name must not contain special" in out
    assert "line 5: not applied: postcode_new: Postcode must be 10 characters or fewer" in out
    assert "line 6: not applied: postcode_new: Enter a real UK postcode, like ME14 1XQ" in out
    assert "line 7: not applied: address_line_1_new: Address line 1 must be 200" in out
    assert "line 8: recorded life event" in out
    assert out.rstrip().endswith("1 applied, 7 refused, 0 unchanged")
    stored = _stored(app, ada.id)
    assert (stored.given_name, stored.family_name, stored.postcode) == (
        "Ada",
        "Lovelace",
        "ME14 1XQ",
    )
    assert (_stored(app, mover.id).town, _stored(app, mover.id).postcode) == ("Dover", "CT16 1HU")


def test_every_problem_of_a_line_is_reported_with_its_field(
    cli: CliRunner, make_resident: Callable[..., Resident], tmp_path: Path
) -> None:
    resident = make_resident()
    result = _import(
        cli,
        tmp_path,
        [
            {
                "kind": "name-changed",
                "date": "None",
                "resident_id": resident.id,
                "given_name_new": 7,
                "family_name_new": "",
                "reference": "R" * 65,
            },
            {"kind": "death", "date": TODAY, "given_name": "Ada", "postcode": ["ME14 1XQ"]},
            {"kind": "birth", "date": TODAY, "resident_id": resident.id},
            {"kind": "death", "date": TODAY},
            "[1, 2]",
            "{not json",
            "[" * 5000 + "]" * 5000,
        ],
    )
    out = result.output
    assert result.exit_code == 1
    for expected in (
        "line 1: not applied: date: Date the name changed must be a real date",
        "line 1: not applied: reference: Death registration reference (optional) must be 64",
        "line 1: not applied: given_name_new: First name must be text",
        "line 1: not applied: family_name_new: Enter your last name",
        "line 2: not applied: family_name: Enter your last name",
        "line 2: not applied: date_of_birth: Enter your date of birth",
        "line 2: not applied: postcode: Postcode must be text",
        "line 3: not applied: kind: Kind must be one of death, moved-out-of-kent",
        "line 4: not applied: resident_id: Give resident_id, or given_name",
        "line 5: not applied: The line is not a JSON object",
        "line 6: not applied: The line is not a JSON object",
        "line 7: not applied: The line is not a JSON object",
    ):
        assert expected in out, expected
    assert "0 applied, 7 refused, 0 unchanged" in out


def test_a_feed_sent_twice_is_unchanged_the_second_time(
    app: Flask, cli: CliRunner, make_resident: Callable[..., Resident], tmp_path: Path
) -> None:
    resident = make_resident()
    lines = [_rename(resident.id), {"kind": "death", "date": TODAY, "resident_id": resident.id}]
    first = _import(cli, tmp_path, lines)
    assert first.exit_code == 0, first.output
    assert "2 applied, 0 refused, 0 unchanged" in first.output
    again = _import(cli, tmp_path, lines)
    assert again.exit_code == 1  # the record is closed now: a change of name is refused
    assert "line 1: not applied: This record is closed" in again.output
    assert "line 2: unchanged: A death is already recorded on this record" in again.output
    assert "0 applied, 1 refused, 1 unchanged" in again.output
    assert _stored(app, resident.id).given_name == "Augusta"


PERSONAL = {
    "given_name": "Wilhelmina",
    "family_name": "Quarrington",
    "date_of_birth": "1961-04-17",
    "postcode": "TN23 7ZZ",
    "address_line_1": "17 Orchard Way",
}


def _no_personal_data(result: Result, caplog: pytest.LogCaptureFixture, *values: str) -> None:
    seen = result.output + "\n".join(r.getMessage() for r in caplog.records)
    seen += "".join(str(r.exc_info) for r in caplog.records if r.exc_info)
    for value in (*PERSONAL.values(), *values):
        assert value not in seen, value
    assert "Traceback" not in result.output


def test_a_failing_import_prints_no_personal_data(
    cli: CliRunner,
    make_resident: Callable[..., Resident],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    resident = make_resident(
        given_name=PERSONAL["given_name"],
        family_name=PERSONAL["family_name"],
        date_of_birth=date.fromisoformat(PERSONAL["date_of_birth"]),
        postcode=PERSONAL["postcode"],
    )
    bad = "Wilhelmina\u202e"
    result = _import(
        cli,
        tmp_path,
        [
            {"kind": "death", "date": TODAY, "given_name": PERSONAL["given_name"],
             "family_name": PERSONAL["family_name"], "date_of_birth": "1961-04-31",
             "postcode": PERSONAL["postcode"]},
            {"kind": "death", "date": "2999-01-01", "resident_id": resident.id},
            {"kind": "death", "date": TODAY, "given_name": "Nobody", "family_name": "Known",
             "date_of_birth": PERSONAL["date_of_birth"], "postcode": "CT1 1AA"},
            _rename(resident.id, given_name_new=bad, family_name_new="Q" * 500),
            _move(resident.id, address_line_1_new=PERSONAL["address_line_1"] + "\x00",
                  postcode_new="TN23 7ZZ TN23"),
            {"kind": "death", "date": PERSONAL["date_of_birth"] + "x", "resident_id": resident.id},
        ],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "0 applied, 6 refused, 0 unchanged" in result.output
    _no_personal_data(result, caplog, bad, "Q" * 100, "1961-04-31", "TN23 7ZZ TN23")


def _on_postgresql(app: Flask) -> bool:
    return bool(app.extensions["kentcard_engine"].dialect.name == "postgresql")


def test_a_value_too_long_for_its_column_is_one_refused_line_on_postgresql(
    app: Flask,
    cli: CliRunner,
    make_resident: Callable[..., Resident],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Finding 6: a DataError aborted the run with the INSERT's parameters and no summary.

    The rules now stop an over-long name before the database; to reach the database's own
    refusal the first-name rule is widened past its column, as a rule drifting from a
    migration would. SQLite does not enforce lengths, so there the line is applied.
    """
    monkeypatch.setattr(
        validation, "GIVEN_NAME", dataclasses.replace(validation.GIVEN_NAME, max_length=400)
    )
    caplog.set_level(logging.DEBUG)
    first, second = make_resident(), make_resident(given_name="Mary")
    long_name = "Wilhelmina" * 15
    result = _import(
        cli,
        tmp_path,
        [_rename(first.id, given_name_new=long_name), _rename(second.id)],
    )
    if not _on_postgresql(app):
        assert "2 applied, 0 refused, 0 unchanged" in result.output
        return
    assert result.exit_code == 1
    assert "line 1: not applied: The database refused this line (StringDataRightTruncation)" in (
        result.output
    )
    assert "line 2: recorded life event" in result.output
    assert result.output.rstrip().endswith("1 applied, 1 refused, 0 unchanged")
    _no_personal_data(result, caplog, long_name[:50])
    assert _stored(app, first.id).given_name == "Ada"
    assert _stored(app, second.id).given_name == "Augusta"


def test_a_database_error_on_one_line_is_rolled_back_and_reported_without_its_values(
    app: Flask,
    cli: CliRunner,
    make_resident: Callable[..., Resident],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A constraint the rules cannot know about (here a duplicate key): the line's work is
    rolled back, the error is named by its kind only and the next line still goes in."""
    caplog.set_level(logging.DEBUG)
    record_move_out = life_events.record_move_out

    def clashing(notifier: Any, resident_id: str, moved_on: date) -> Any:
        insert = text(
            "INSERT INTO sign_in_failures (id, account_key, created_at) VALUES (:i, :k, :c)"
        )
        row = {"i": 1, "k": PERSONAL["family_name"], "c": "2026-01-01 00:00:00"}
        db_session.execute(insert, row)
        db_session.execute(insert, row)
        return record_move_out(notifier, resident_id, moved_on)

    monkeypatch.setattr(life_events, "record_move_out", clashing)
    leaving, staying = make_resident(), make_resident()
    result = _import(
        cli,
        tmp_path,
        [
            {"kind": "moved-out-of-kent", "date": TODAY, "resident_id": leaving.id},
            _rename(staying.id),
        ],
    )
    assert result.exit_code == 1
    assert "line 1: not applied: The database refused this line (" in result.output
    assert "line 2: recorded life event" in result.output
    assert "1 applied, 1 refused, 0 unchanged" in result.output
    _no_personal_data(result, caplog)
    with in_app(app):
        assert db_session.scalar(text("SELECT count(*) FROM sign_in_failures")) == 0
        assert db_session.scalar(text("SELECT count(*) FROM life_events")) == 1


def test_a_change_of_name_imports_without_a_traceback(
    app: Flask,
    cli: CliRunner,
    make_resident: Callable[..., Resident],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Issue 11: the notice email was rendered outside a request, and the page globals
    logged "Working outside of request context" with a traceback for every name change."""
    resident = make_resident()
    with caplog.at_level(logging.WARNING):
        result = _import(cli, tmp_path, [_rename(resident.id)])
    assert result.exit_code == 0, result.output
    assert (_stored(app, resident.id).given_name, _stored(app, resident.id).family_name) == (
        "Augusta",
        "King",
    )
    assert "Traceback" not in result.output
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
