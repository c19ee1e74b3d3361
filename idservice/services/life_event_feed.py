"""A registrar's feed of life events: one JSON object a line, applied line by line.

Each line is checked with the rules of :mod:`idservice.validation` (the ones the staff
console's forms use) and then applied by :mod:`idservice.services.life_events` in a
transaction of its own. A line is applied whole or not at all; a refused line (a value
that fails a rule, no record or more than one matching, a database error) is rolled back
and reported, and the lines after it are still read. So a feed stopped part of the way
through can be sent again: what was applied is ``unchanged`` the second time (a death
already recorded, a name or address the record already has).

What a line's result says is its number, the name of the field at fault and the rule's
message; never a value from the line, so a report (or a log of one) holds no personal data.
"""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from idservice import validation
from idservice.db import db_session
from idservice.models.residents import RESIDENT_MERGED, Resident
from idservice.partners.secevent import ADDRESS_CHANGED, DEATH, MOVED_OUT, NAME_CHANGED
from idservice.services import life_events
from idservice.services.residents import NotFound

log = logging.getLogger(__name__)

APPLIED = "applied"
REFUSED = "refused"
UNCHANGED = "unchanged"

#: Fields of a line that picks the resident by name, date of birth and postcode.
MATCH_FIELDS = ("given_name", "family_name", "date_of_birth", "postcode")


def _date_rules() -> dict[str, validation.DateRule]:
    return {
        DEATH: validation.DATE_OF_DEATH,
        MOVED_OUT: validation.MOVE_OUT_DATE,
        NAME_CHANGED: validation.NAME_CHANGE_DATE,
        ADDRESS_CHANGED: validation.ADDRESS_CHANGE_DATE,
    }


@dataclass(frozen=True)
class Problem:
    """What is wrong with a line: the field (None for the line as a whole) and the message."""

    field: str | None
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


@dataclass(frozen=True)
class LineResult:
    number: int
    status: str
    problems: tuple[Problem, ...] = ()
    life_event_id: str | None = None


@dataclass
class Summary:
    applied: int = 0
    refused: int = 0
    unchanged: int = 0

    def add(self, result: LineResult) -> None:
        setattr(self, result.status, getattr(self, result.status) + 1)

    def __str__(self) -> str:
        return f"{self.applied} applied, {self.refused} refused, {self.unchanged} unchanged"


class LineRefused(Exception):
    """A line failed one or more rules; nothing from it was written."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = tuple(problems)


@dataclass
class CheckedLine:
    """A line whose every value passed its rule, in the form it is stored in."""

    kind: str
    on: date
    reference: str | None
    notifier: str | None
    resident_id: str | None
    match: dict[str, Any] = field(default_factory=dict)
    new_name: tuple[str, str] | None = None
    new_address: dict[str, str | None] | None = None


class _Checker:
    """Runs rules over a line's values, keeping every problem rather than the first."""

    def __init__(self, row: dict[str, Any]) -> None:
        self.row = row
        self.problems: list[Problem] = []

    def text(self, name: str, rule: validation.TextRule, *, required: bool = True) -> Any:
        try:
            return rule.clean(self.row.get(name), required=required)
        except validation.ValidationError as exc:
            self.problems.append(Problem(name, str(exc)))
            return None

    def date(self, name: str, rule: validation.DateRule) -> Any:
        try:
            return rule.from_iso(self.row.get(name))
        except validation.ValidationError as exc:
            self.problems.append(Problem(name, str(exc)))
            return None


def check_line(row: dict[str, Any]) -> CheckedLine:
    """Every value of ``row`` through its rule; raises :class:`LineRefused` with them all."""
    checker = _Checker(row)
    kind = row.get("kind")
    if not isinstance(kind, str) or kind not in life_events.KINDS:
        raise LineRefused([Problem("kind", f"Kind must be one of {', '.join(life_events.KINDS)}")])
    on = checker.date("date", _date_rules()[kind])
    reference = checker.text("reference", validation.LIFE_EVENT_REFERENCE, required=False)
    notifier = checker.text("notifier", validation.NOTIFIER, required=False)
    resident_id = match = None
    if row.get("resident_id") is not None:
        resident_id = checker.text("resident_id", validation.RESIDENT_REFERENCE)
    elif any(row.get(name) is not None for name in MATCH_FIELDS):
        match = {
            "given_name": checker.text("given_name", validation.GIVEN_NAME),
            "family_name": checker.text("family_name", validation.FAMILY_NAME),
            "date_of_birth": checker.date("date_of_birth", validation.DATE_OF_BIRTH),
            "postcode": checker.text("postcode", validation.POSTCODE),
        }
    else:
        checker.problems.append(
            Problem(
                "resident_id",
                "Give resident_id, or given_name, family_name, date_of_birth and postcode",
            )
        )
    line = CheckedLine(kind, on, reference, notifier, resident_id, match or {})
    if kind == NAME_CHANGED:
        given = checker.text("given_name_new", validation.GIVEN_NAME)
        family = checker.text("family_name_new", validation.FAMILY_NAME)
        line.new_name = (given, family)
    elif kind == ADDRESS_CHANGED:
        line.new_address = {
            name: checker.text(f"{name}_new", rule, required=name != "address_line_2")
            for name, rule in life_events.ADDRESS_RULES.items()
        }
    if checker.problems:
        raise LineRefused(checker.problems)
    return line


def _match(line: CheckedLine) -> str:
    """The resident a line is about: by id, or by exact name, date of birth and postcode."""
    if line.resident_id is not None:
        return line.resident_id
    m = line.match
    ids = db_session.scalars(
        select(Resident.id).where(
            func.lower(Resident.given_name) == m["given_name"].lower(),
            func.lower(Resident.family_name) == m["family_name"].lower(),
            Resident.date_of_birth == m["date_of_birth"],
            func.upper(func.replace(Resident.postcode, " ", "")) == m["postcode"].replace(" ", ""),
            Resident.status != RESIDENT_MERGED,  # the record it was merged into answers
        )
    ).all()
    if len(ids) != 1:
        raise life_events.LifeEventRefused(
            "no record matches" if not ids else "more than one record matches: check by hand"
        )
    return str(ids[0])


def apply_line(line: CheckedLine, source: str = "registrar") -> str:
    """Apply one checked line in its own transaction; the life event's id."""
    notifier = life_events.Notifier(
        source=source,
        actor_id=line.notifier or source,
        channel="system",
        reference=line.reference,
    )
    resident_id = _match(line)
    db_session.rollback()  # the match read nothing we keep; each service is one transaction
    if line.kind == DEATH:
        outcome = life_events.record_death(notifier, resident_id, line.on)
    elif line.kind == MOVED_OUT:
        outcome = life_events.record_move_out(notifier, resident_id, line.on)
    elif line.kind == NAME_CHANGED:
        assert line.new_name is not None
        given, family = line.new_name
        outcome = life_events.record_name_change(notifier, resident_id, line.on, given, family)
    else:
        assert line.new_address is not None
        outcome = life_events.record_address_change(
            notifier, resident_id, line.on, line.new_address
        )
    return outcome.life_event.id


def _parse(text: str) -> dict[str, Any]:
    try:
        row = json.loads(text)
    except (ValueError, RecursionError):
        row = None
    if not isinstance(row, dict):
        raise LineRefused([Problem(None, "The line is not a JSON object")])
    return row


def import_line(number: int, text: str, source: str = "registrar") -> LineResult:
    """One line of a feed, start to finish; never raises for anything the line holds."""
    try:
        life_id = apply_line(check_line(_parse(text)), source)
    except LineRefused as exc:
        return LineResult(number, REFUSED, exc.problems)
    except life_events.NoChange as exc:
        return LineResult(number, UNCHANGED, (Problem(None, str(exc)),))
    except life_events.AlreadyRecorded as exc:
        return LineResult(number, UNCHANGED, (Problem(None, str(exc)),))
    except life_events.LifeEventRefused as exc:
        return LineResult(number, REFUSED, (Problem(None, str(exc)),))
    except NotFound:
        message = "No record has this resident reference"
        return LineResult(number, REFUSED, (Problem("resident_id", message),))
    except SQLAlchemyError as exc:
        # The error's text can hold the statement's values: report its kind only.
        cause = type(getattr(exc, "orig", None) or exc).__name__
        _log_failure(number, exc)
        message = f"The database refused this line ({cause}): nothing from it was saved"
        return LineResult(number, REFUSED, (Problem(None, message),))
    except Exception as exc:  # a fault of ours: the other lines still go in
        _log_failure(number, exc)
        message = (
            f"This line could not be applied ({type(exc).__name__}): nothing from it was saved"
        )
        return LineResult(number, REFUSED, (Problem(None, message),))
    finally:
        db_session.rollback()  # nothing is left half-written for the next line
    return LineResult(number, APPLIED, life_event_id=life_id)


def _log_failure(number: int, exc: BaseException) -> None:
    """Where it failed (files, lines, code), without the error's text or any value."""
    frames = "".join(traceback.format_tb(exc.__traceback__))
    log.error(
        "life-events import: line %d failed with %s at\n%s", number, type(exc).__name__, frames
    )


def import_lines(lines: Iterable[str], source: str = "registrar") -> Iterator[LineResult]:
    """Every non-empty line, in order, each applied or refused on its own."""
    for number, text in enumerate(lines, start=1):
        if text.strip():
            yield import_line(number, text, source)
