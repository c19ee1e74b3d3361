"""Finding existing records and keeping possible duplicates, against the real database."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from idservice.db import db_session
from idservice.models import AuditRecord, PossibleDuplicate, Resident
from idservice.models.duplicates import DUPLICATE_MERGED, DUPLICATE_NOT_SAME, DUPLICATE_OPEN
from idservice.services import duplicates
from idservice.services.name_matching import Person
from idservice.services.your_data import erase
from tests.accounts.conftest import in_app

ADA_BORN = date(1956, 12, 10)
ADA = Person("Ada", "Lovelace", "Sessions House", "Maidstone", "ME14 1XQ")


def _find(app: Flask, person: Person = ADA, born: date = ADA_BORN, **kw: Any) -> list[str]:
    with in_app(app):
        return [f.resident_id for f in duplicates.find(person, born, **kw)]


def test_only_the_same_date_of_birth_is_compared(
    app: Flask, make_resident: Callable[..., Resident]
) -> None:
    same = make_resident()
    make_resident(date_of_birth=date(1956, 12, 11))  # a day later: never a match
    make_resident(date_of_birth=date(1965, 12, 10))
    assert _find(app) == [same.id]


def test_records_that_are_not_active_are_left_out(
    app: Flask, make_resident: Callable[..., Resident]
) -> None:
    active = make_resident()
    erased = make_resident()
    others = {status: make_resident() for status in ("closed", "deceased", "merged")}
    with in_app(app):
        for status, resident in others.items():
            stored = db_session.get(Resident, resident.id)
            assert stored is not None
            stored.status = status
            if status == "merged":  # a merged record points at the one it was merged into
                stored.merged_into_id = active.id
        db_session.commit()
        erase(erased.id, password=None, actor_type="system", channel="system")
    assert _find(app) == [active.id]
    assert _find(app, leave_out=active.id) == []


def test_best_first_and_at_most_a_few(app: Flask, make_resident: Callable[..., Resident]) -> None:
    typo = make_resident(family_name="Lovelance")
    exact = make_resident()
    for _ in range(duplicates.MATCHES_KEPT):
        make_resident(given_name="A")
    found = _find(app)
    assert found[:2] == [exact.id, typo.id]
    assert len(found) == duplicates.MATCHES_KEPT


def test_the_search_uses_the_date_of_birth_index(app: Flask) -> None:
    """Cheap at 1.6 million residents: one indexed lookup, never a scan of the table."""
    with in_app(app):
        conn = db_session.connection()
        born = {"dob": ADA_BORN}
        query = "FROM residents WHERE date_of_birth = :dob AND status = 'active'"
        if conn.dialect.name == "sqlite":
            plan = " ".join(
                str(row[-1])
                for row in conn.execute(text(f"EXPLAIN QUERY PLAN SELECT id {query}"), born)
            )
        else:
            # An empty table is cheaper to scan, so ask what the planner can use.
            conn.execute(text("SET LOCAL enable_seqscan = off"))
            plan = " ".join(
                str(row[0]) for row in conn.execute(text(f"EXPLAIN SELECT id {query}"), born)
            )
        db_session.rollback()
    assert "ix_residents_date_of_birth" in plan, plan


def _rows(app: Flask) -> list[PossibleDuplicate]:
    with in_app(app):
        rows = list(db_session.scalars(select(PossibleDuplicate)))
        db_session.expunge_all()
        return rows


def _audit(app: Flask, action: str) -> list[AuditRecord]:
    with in_app(app):
        rows = list(db_session.scalars(select(AuditRecord).where(AuditRecord.action == action)))
        db_session.expunge_all()
        return rows


def test_record_open_keeps_the_pair_without_personal_values(
    app: Flask, make_resident: Callable[..., Resident]
) -> None:
    existing = make_resident()
    new = make_resident(family_name="Lovelance")
    with in_app(app):
        found = duplicates.find(ADA, ADA_BORN, leave_out=new.id)
        duplicates.record_open(new.id, found, "web")
        db_session.commit()
    [row] = _rows(app)
    assert (row.new_resident_id, row.existing_resident_id) == (new.id, existing.id)
    assert (row.status, row.channel, row.reason, row.place) == (
        DUPLICATE_OPEN,
        "web",
        "same-name",
        "postcode-and-address",
    )
    assert row.score == 1.0
    assert row.reason_words == "same date of birth, same address and postcode, the same name (1.00)"
    [suspected] = _audit(app, "duplicate.suspected")
    # On the existing record's trail only: the new record's holder sees nothing of it.
    assert suspected.resident_id == existing.id and suspected.actor_type == "system"
    stored = " ".join(str(v) for v in (row.reason_words, row.note, suspected.details))
    for value in ("Ada", "Lovelace", "ME14", "Sessions", "Maidstone", existing.id):
        assert value not in stored


def test_one_pair_is_kept_once(app: Flask, make_resident: Callable[..., Resident]) -> None:
    make_resident()
    new = make_resident()
    with in_app(app):
        found = duplicates.find(ADA, ADA_BORN, leave_out=new.id)
        duplicates.record_open(new.id, found, "web")
        db_session.commit()
        with pytest.raises(IntegrityError):
            duplicates.record_open(new.id, found, "web")
        db_session.rollback()
    assert len(_rows(app)) == 1


def test_mark_merged_resolves_the_open_pair_either_way_round(
    app: Flask, make_resident: Callable[..., Resident], make_staff: Callable[..., Any]
) -> None:
    existing = make_resident()
    new = make_resident()
    staff = make_staff()
    with in_app(app):
        duplicates.record_open(new.id, duplicates.find(ADA, ADA_BORN, leave_out=new.id), "web")
        db_session.commit()
        assert duplicates.mark_merged(new.id, existing.id, staff.id) is True
        db_session.commit()
        assert duplicates.mark_merged(existing.id, new.id, staff.id) is False
    [row] = _rows(app)
    assert (row.status, row.resolved_by_staff_id) == (DUPLICATE_MERGED, staff.id)
    assert row.resolved_at is not None


def test_not_the_same_person_when_registering(
    app: Flask, make_resident: Callable[..., Resident]
) -> None:
    existing = make_resident()
    new = make_resident(given_name="Ava")
    operator = duplicates.Operator("staff", "cli-operator", "face-to-face")
    with in_app(app):
        found = duplicates.find(ADA, ADA_BORN, leave_out=new.id)
        duplicates.record_not_same(new.id, found, operator, "Twin sister, passports seen")
        db_session.commit()
    [row] = _rows(app)
    assert (row.status, row.note, row.resolved_by_staff_id) == (
        DUPLICATE_NOT_SAME,
        "Twin sister, passports seen",
        None,
    )
    trail = _audit(app, "duplicate.not_same")
    assert sorted(a.resident_id for a in trail) == sorted([new.id, existing.id])
    assert {(a.actor_id, a.reason) for a in trail} == {
        ("cli-operator", "Twin sister, passports seen")
    }
