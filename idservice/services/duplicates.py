"""One record per person: finding an existing record at registration, and what staff do
with a possible duplicate.

Every way a record is made asks :func:`find` first: the active records born on the same
day (one indexed lookup, ``ix_residents_date_of_birth``: a few dozen rows among 1.6
million residents), compared in Python by :mod:`idservice.services.name_matching`.

- Online (``/register``) the account is made as before and the pairs are kept for staff
  (:func:`record_open`): the page, its words and its timing are the same with a match or
  without, so registering tells nobody whether a record exists.
- On the command line and in the staff console the likely matches are shown (each one a
  look at a record, audited by :func:`audit_shown`) and nothing is made until the operator
  says it is a different person and why (:func:`record_not_same`).

Staff then review the open pairs side by side (:func:`review`) and resolve them: "not the
same person" (:func:`resolve_not_same`) or a merge, which marks the pair with
:func:`mark_merged`. Rows and audit details hold references and reason codes, never a name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import or_, select

from idservice import audit
from idservice.db import db_session, transactional
from idservice.models.base import utcnow
from idservice.models.duplicates import (
    DUPLICATE_MERGED,
    DUPLICATE_NOT_SAME,
    DUPLICATE_OPEN,
    PossibleDuplicate,
)
from idservice.models.residents import RESIDENT_ACTIVE, Resident
from idservice.services.name_matching import Match, Person, compare
from idservice.services.residents import NotFound, create_resident, dao_get_resident_by_id

#: At most this many likely matches are shown or kept for one new record, best first.
MATCHES_KEPT = 5
#: What showing a likely match shows of that record.
SHOWN_FIELDS = ["given_name", "family_name", "date_of_birth", "postcode"]
#: The reason given with every staff look at a pair, shown to both residents.
REVIEW_REASON = "Checking whether two records are the same person"


@dataclass(frozen=True)
class Found:
    """An existing record that may be the same person as the one being registered."""

    resident_id: str
    person: Person
    date_of_birth: date
    match: Match

    def words(self, new: Person) -> str:
        return self.match.words(new, self.person)


def person_from(details: Mapping[str, Any]) -> Person:
    """The :class:`Person` in a registration's cleaned values (or a resident record)."""
    return Person(
        given_name=str(details["given_name"]),
        family_name=str(details["family_name"]),
        address_line_1=str(details["address_line_1"]),
        town=str(details["town"]),
        postcode=str(details["postcode"]),
    )


def person_of(resident: Resident) -> Person:
    return Person(
        resident.given_name,
        resident.family_name,
        resident.address_line_1,
        resident.town,
        resident.postcode,
    )


# --- data access ----------------------------------------------------------------------------


def dao_active_residents_born_on(date_of_birth: date) -> list[Any]:
    """The active records with this date of birth: only the columns compared, so no
    sealed column is opened (closed, deceased, erased or merged records are left out)."""
    rows = db_session.execute(
        select(
            Resident.id,
            Resident.given_name,
            Resident.family_name,
            Resident.address_line_1,
            Resident.town,
            Resident.postcode,
            Resident.date_of_birth,
        ).where(Resident.date_of_birth == date_of_birth, Resident.status == RESIDENT_ACTIVE)
    )
    return list(rows)


def dao_get_duplicate(duplicate_id: str) -> PossibleDuplicate:
    row = db_session.get(PossibleDuplicate, duplicate_id)
    if row is None:
        raise NotFound("possible duplicate")
    return row


def dao_open_duplicates(limit: int) -> list[PossibleDuplicate]:
    rows = db_session.scalars(
        select(PossibleDuplicate)
        .where(PossibleDuplicate.status == DUPLICATE_OPEN)
        .order_by(PossibleDuplicate.found_at, PossibleDuplicate.id)
        .limit(limit)
    )
    return list(rows)


def dao_open_duplicates_of(resident_id: str) -> list[PossibleDuplicate]:
    rows = db_session.scalars(
        select(PossibleDuplicate)
        .where(
            PossibleDuplicate.status == DUPLICATE_OPEN,
            or_(
                PossibleDuplicate.new_resident_id == resident_id,
                PossibleDuplicate.existing_resident_id == resident_id,
            ),
        )
        .order_by(PossibleDuplicate.found_at)
    )
    return list(rows)


# --- finding --------------------------------------------------------------------------------


def find(person: Person, date_of_birth: date, *, leave_out: str | None = None) -> list[Found]:
    """Active records that may be ``person``, best first (at most :data:`MATCHES_KEPT`).

    Reads and writes nothing else, and takes the same time with a match or without; so
    the registration page can call it for every request.
    """
    found = []
    for row in dao_active_residents_born_on(date_of_birth):
        if row.id == leave_out:
            continue
        existing = Person(
            row.given_name, row.family_name, row.address_line_1, row.town, row.postcode
        )
        match = compare(person, existing)
        if match is not None:
            found.append(Found(row.id, existing, row.date_of_birth, match))
    found.sort(key=lambda f: (-f.match.score, f.resident_id))
    return found[:MATCHES_KEPT]


def _pair(new_resident_id: str, found: Found, channel: str, status: str) -> PossibleDuplicate:
    row = PossibleDuplicate(
        new_resident_id=new_resident_id,
        existing_resident_id=found.resident_id,
        score=found.match.score,
        reason=found.match.reason,
        place=found.match.place,
        reason_words=found.match.summary(),
        channel=channel,
        status=status,
    )
    db_session.add(row)
    db_session.flush()
    return row


def _details(row: PossibleDuplicate, **extra: Any) -> dict[str, Any]:
    """Audit details: the pair and why, never a name or another resident's reference."""
    return {
        "duplicate": row.id,
        "score": row.score,
        "match": row.reason,
        "place": row.place,
        **extra,
    }


def record_open(new_resident_id: str, found: list[Found], channel: str) -> None:
    """Keep each pair for staff, in the caller's transaction (registration online).

    The look at the existing record is the service's own, recorded on that record's
    trail; nothing is added to the new record's trail, which its holder can read.
    """
    for each in found:
        row = _pair(new_resident_id, each, channel, DUPLICATE_OPEN)
        audit.record(
            "duplicate.suspected",
            resident_id=each.resident_id,
            actor_type="system",
            actor_id="registration",
            channel=channel,
            details=_details(row),
        )


@dataclass(frozen=True)
class Operator:
    """Who said a new record is a different person: a member of staff in the console, or
    whoever ran the command (``actor_id`` as given to ``--actor``)."""

    actor_type: str
    actor_id: str
    channel: str
    staff_id: str | None = None
    staff_role: str | None = None

    def details(self) -> dict[str, Any]:
        return {"staff_role": self.staff_role} if self.staff_role else {}


def audit_shown(found: list[Found], by: Operator, screen: str) -> None:
    """Showing a likely match shows that record's name, date of birth and postcode: a look
    at it, on its trail. In the caller's transaction."""
    for each in found:
        audit.record(
            "resident.viewed",
            resident_id=each.resident_id,
            actor_type=by.actor_type,
            actor_id=by.actor_id,
            channel=by.channel,
            details={**by.details(), "screen": screen, "fields": SHOWN_FIELDS},
            reason="Registering a new resident: checking for an existing record",
        )


def record_not_same(new_resident_id: str, found: list[Found], by: Operator, note: str) -> None:
    """The operator said the new record is a different person: each pair is kept as
    resolved, with their reason, on both records' trails. In the caller's transaction."""
    now = utcnow()
    for each in found:
        row = _pair(new_resident_id, each, by.channel, DUPLICATE_NOT_SAME)
        row.resolved_by_staff_id = by.staff_id
        row.resolved_at = now
        row.note = note
        for resident_id in (new_resident_id, each.resident_id):
            audit.record(
                "duplicate.not_same",
                resident_id=resident_id,
                actor_type=by.actor_type,
                actor_id=by.actor_id,
                channel=by.channel,
                details=_details(row, **by.details(), when="registering"),
                reason=note,
            )


# --- staff review ---------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueItem:
    """One open pair in the list: enough to choose it; opening it shows (and audits) more."""

    id: str
    found_at: Any
    channel: str
    score: float
    reason_words: str
    new_name: str
    existing_name: str


@dataclass(frozen=True)
class Checked:
    """A record created after the likely matches were looked at, or None when one of them
    may be the same person and no reason was given (nothing was created)."""

    resident: Resident | None
    found: list[Found]


@transactional
def create_unless_duplicate(
    values: dict[str, Any],
    *,
    password: str | None,
    operator: Operator,
    not_a_duplicate: str | None,
    screen: str,
) -> Checked:
    """``kentcard residents create``: a record, unless an existing one may be the same
    person and ``not_a_duplicate`` does not say why it is not.

    The looks at the likely matches are recorded either way; with a reason, each pair is
    kept as checked with it.
    """
    found = find(person_from(values), values["date_of_birth"])
    if found:
        audit_shown(found, operator, screen)
    if found and not_a_duplicate is None:
        return Checked(None, found)
    resident = create_resident(
        **values,
        password=password,
        actor_type=operator.actor_type,
        actor_id=operator.actor_id,
        channel=operator.channel,
    )
    if found and not_a_duplicate is not None:
        record_not_same(resident.id, found, operator, not_a_duplicate)
    return Checked(resident, found)


def open_queue(limit: int = 100) -> list[QueueItem]:
    """The open pairs, oldest first, with the two names to tell them apart."""
    rows = dao_open_duplicates(limit)
    ids = {r.new_resident_id for r in rows} | {r.existing_resident_id for r in rows}
    names = dict(
        db_session.execute(
            select(Resident.id, Resident.given_name + " " + Resident.family_name).where(
                Resident.id.in_(ids)
            )
        ).all()
    )
    return [
        QueueItem(
            r.id,
            r.found_at,
            r.channel,
            r.score,
            r.reason_words,
            _name(names.get(r.new_resident_id)),
            _name(names.get(r.existing_resident_id)),
        )
        for r in rows
    ]


@transactional
def listed_queue(staff_id: str, staff_role: str) -> list[QueueItem]:
    """The open queue for a member of staff, its listing audited.

    Like a search: audited without a resident (how many were listed), so that browsing the
    list can be seen; each resident's trail starts when a pair is opened (:func:`review`).
    """
    items = open_queue()
    audit.record(
        "staff.duplicates_listed",
        resident_id=None,
        actor_type="staff",
        actor_id=staff_id,
        channel="web",
        details={"staff_role": staff_role, "listed": len(items)},
    )
    return items


def _name(full: str | None) -> str:
    """An erased record has no name left; say so rather than show nothing."""
    return (full or "").strip() or "A record since erased"


@dataclass(frozen=True)
class Review:
    duplicate: PossibleDuplicate
    new: Resident
    existing: Resident
    #: The reason in words with both names, compared again from the records as they are now.
    words: str


def _look(staff_id: str, staff_role: str, row: PossibleDuplicate, screen: str) -> None:
    for resident_id in (row.new_resident_id, row.existing_resident_id):
        audit.record(
            "resident.viewed",
            resident_id=resident_id,
            actor_type="staff",
            actor_id=staff_id,
            channel="web",
            details={"staff_role": staff_role, "screen": screen, "duplicate": row.id},
            reason=REVIEW_REASON,
        )


@transactional
def review(staff_id: str, staff_role: str, duplicate_id: str) -> Review:
    """Both records side by side: a look at each, audited on each record's trail."""
    row = dao_get_duplicate(duplicate_id)
    new = dao_get_resident_by_id(row.new_resident_id)
    existing = dao_get_resident_by_id(row.existing_resident_id)
    _look(staff_id, staff_role, row, "possible duplicate")
    again = compare(person_of(new), person_of(existing))
    words = again.words(person_of(new), person_of(existing)) if again else row.reason_words
    return Review(row, new, existing, words)


class AlreadyResolved(ValueError):
    """Someone else resolved the pair first; the message says what they decided."""


def _check_open(row: PossibleDuplicate) -> None:
    if row.status == DUPLICATE_NOT_SAME:
        raise AlreadyResolved("These records have already been checked: not the same person")
    if row.status == DUPLICATE_MERGED:
        raise AlreadyResolved("These records have already been merged")


@transactional
def resolve_not_same(staff_id: str, staff_role: str, duplicate_id: str, note: str) -> None:
    """ "Not the same person": the pair is resolved with the reason, on both trails."""
    row = dao_get_duplicate(duplicate_id)
    _check_open(row)
    row.status = DUPLICATE_NOT_SAME
    row.resolved_by_staff_id = staff_id
    row.resolved_at = utcnow()
    row.note = note
    for resident_id in (row.new_resident_id, row.existing_resident_id):
        audit.record(
            "duplicate.not_same",
            resident_id=resident_id,
            actor_type="staff",
            actor_id=staff_id,
            channel="web",
            details=_details(row, staff_role=staff_role, when="review"),
            reason=note,
        )


def mark_merged(existing_resident_id: str, new_resident_id: str, staff_id: str) -> bool:
    """For the merge: the open pair of these two records (either way round), if any, is
    resolved as merged, in the caller's transaction. True if there was one."""
    rows = db_session.scalars(
        select(PossibleDuplicate).where(
            PossibleDuplicate.status == DUPLICATE_OPEN,
            or_(
                (PossibleDuplicate.existing_resident_id == existing_resident_id)
                & (PossibleDuplicate.new_resident_id == new_resident_id),
                (PossibleDuplicate.existing_resident_id == new_resident_id)
                & (PossibleDuplicate.new_resident_id == existing_resident_id),
            ),
        )
    )
    marked = False
    for row in rows:
        row.status = DUPLICATE_MERGED
        row.resolved_by_staff_id = staff_id
        row.resolved_at = utcnow()
        marked = True
    return marked


def mark_not_same_after_undo(
    existing_resident_id: str, new_resident_id: str, staff_id: str, note: str
) -> bool:
    """For the undo of a merge: the pair these two records were merged from (either way
    round) is resolved as "not the same person" with the undo's reason, in the caller's
    transaction, so it is not offered again. True if there was one."""
    rows = db_session.scalars(
        select(PossibleDuplicate).where(
            PossibleDuplicate.status == DUPLICATE_MERGED,
            or_(
                (PossibleDuplicate.existing_resident_id == existing_resident_id)
                & (PossibleDuplicate.new_resident_id == new_resident_id),
                (PossibleDuplicate.existing_resident_id == new_resident_id)
                & (PossibleDuplicate.new_resident_id == existing_resident_id),
            ),
        )
    )
    marked = False
    for row in rows:
        row.status = DUPLICATE_NOT_SAME
        row.resolved_by_staff_id = staff_id
        row.resolved_at = utcnow()
        row.note = note[:300]
        marked = True
    return marked


@transactional
def open_for_record(resident_id: str) -> list[str]:
    """The ids of open pairs that include this record (for the notice on the record)."""
    return [row.id for row in dao_open_duplicates_of(resident_id)]
