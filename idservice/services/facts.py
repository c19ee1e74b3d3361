"""Residents' facts: stored once, reused by every service, never asked twice.

Data access (``dao_*``) and the services built on it. Every write supersedes the current
row of the same name (history kept) and is audited in the caller's transaction with the
fact's *name*, source and level, never its value. :func:`facts_for` turns the current rows
into the engine's :class:`~entitlements.facts.FactSet`.

Registration and change of details record the date of birth and address as self-declared
facts (:func:`record_from_resident`). Whether someone lives in Kent is never stored from a
guess: the engine derives it from the address through the gazetteer (a postcode district
that crosses Kent's boundary answers "needs evidence"), and a ``lives_in_kent`` fact is
only recorded by staff who saw proof. Moving house supersedes it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select

from entitlements.codec import from_json, to_json
from entitlements.conditions import AWARD_WORDS, CATEGORY_WORDS
from entitlements.dates import academic_year_bounds, academic_year_start, long_date
from entitlements.facts import (
    Address,
    BlueBadgeDecision,
    Disability,
    Fact,
    FactName,
    FactSet,
    FactValue,
    Provenance,
    QualifyingAward,
    SchoolYear,
    Source,
    VerificationLevel,
)
from entitlements.gazetteer import Postcode, PostcodeError, Residency, built_in_gazetteer
from idservice import audit
from idservice.db import db_session, transactional
from idservice.models.base import utcnow
from idservice.models.facts import ResidentFact
from idservice.models.residents import Resident
from idservice.services.evidence_types import EVIDENCE_TYPES

#: Stored source codes and what they mean to the engine.
SOURCES: Mapping[str, Source] = {
    "self-declared": Source.SELF_DECLARED,
    "staff-seen-document": Source.STAFF_SEEN_DOCUMENT,
    "trusted-partner": Source.TRUSTED_PARTNER,
    "government-department": Source.GOVERNMENT_DEPARTMENT,
    "council-decision": Source.COUNCIL_DECISION,
}
SOURCE_CODES: Mapping[Source, str] = {source: code for code, source in SOURCES.items()}

#: How each source is described to the resident ("You told us", ...).
SOURCE_WORDS: Mapping[str, str] = {
    "self-declared": "you told us",
    "staff-seen-document": "council staff saw a document",
    "trusted-partner": "checked by a trusted partner",
    "government-department": "confirmed by a government department",
    "council-decision": "a council decision",
}

LEVEL_WORDS: Mapping[int, str] = {
    VerificationLevel.DECLARED: "Not checked",
    VerificationLevel.CHECKED: "Checked",
    VerificationLevel.VERIFIED: "Confirmed",
}

#: Short names for facts in lists and tables.
FACT_LABELS: Mapping[FactName, str] = {
    FactName.DATE_OF_BIRTH: "Date of birth",
    FactName.ADDRESS: "Home postcode",
    FactName.LIVES_IN_KENT: "Lives in Kent",
    FactName.WORKS_IN_KENT: "Works in Kent",
    FactName.STUDIES_IN_KENT: "Studies in Kent",
    FactName.SCHOOL_YEAR: "School year",
    FactName.FULL_TIME_EDUCATION: "In full-time education or training",
    FactName.DISABILITY: "Disability",
    FactName.BLUE_BADGE_DECISION: "Blue Badge decision",
    FactName.QUALIFYING_AWARD: "Qualifying benefit or award",
    FactName.PARENTAL_CONSENT: "Parent or guardian's consent",
    FactName.NEEDS_COMPANION: "Needs a companion to travel",
}


class FactRefused(ValueError):
    """The fact cannot be recorded as given; the message says what to do instead."""


@dataclass(frozen=True)
class Recorder:
    """Who is recording a fact, through which channel, and (for staff) role and reason."""

    type: str  # resident, staff, partner, system
    id: str | None
    channel: str
    staff_role: str | None = None
    reason: str | None = None

    @property
    def audit_actor(self) -> str:
        return "client" if self.type == "partner" else self.type


# --- data access --------------------------------------------------------------------------


def dao_current_fact_rows(resident_id: str) -> list[ResidentFact]:
    query = (
        select(ResidentFact)
        .where(ResidentFact.resident_id == resident_id, ResidentFact.superseded_at.is_(None))
        .order_by(ResidentFact.recorded_at, ResidentFact.id)
    )
    return list(db_session.scalars(query))


def dao_fact_history(resident_id: str) -> list[ResidentFact]:
    query = (
        select(ResidentFact)
        .where(ResidentFact.resident_id == resident_id)
        .order_by(ResidentFact.recorded_at.desc(), ResidentFact.id.desc())
    )
    return list(db_session.scalars(query))


# --- reading ------------------------------------------------------------------------------


def to_fact(row: ResidentFact | Any) -> Fact:
    """A stored row (or a Core row with the same columns) as the engine's fact."""
    name = FactName(row.name)
    return Fact(
        name,
        from_json(name, row.value),
        Provenance(
            SOURCES[row.source],
            VerificationLevel(row.level),
            row.recorded_by_id or row.recorded_by_type,
            row.recorded_at,
            row.expires_on,
            reference=f"fact:{row.id}",
        ),
    )


def facts_for(
    resident_id: str, extra: Iterable[Fact] = (), *, change: Change | None = None
) -> FactSet:
    """The resident's current facts for the engine, plus ``extra`` (answers not yet saved,
    which win over stored facts of the same name because they are newer). ``change`` is
    this transaction's change taken for re-evaluation, whose rows save reading them again."""
    rows = current_fact_rows(resident_id, change)
    return FactSet.of([*(to_fact(row) for row in rows), *extra])


def describe(name: FactName, value: FactValue) -> str:
    """A fact's value in words for the resident and staff."""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, date):
        return long_date(value)
    if isinstance(value, Address):
        return value.postcode + (f" (property reference {value.uprn})" if value.uprn else "")
    if isinstance(value, SchoolYear):
        first, last = academic_year_bounds(value.academic_year)
        label = "Reception" if value.year_group == 0 else f"Year {value.year_group}"
        return f"{label} in the {first.year} to {last.year} school year"
    if isinstance(value, Disability):
        return CATEGORY_WORDS[value.category][0].upper() + CATEGORY_WORDS[value.category][1:]
    if isinstance(value, BlueBadgeDecision):
        if not value.approved:
            return f"Not awarded ({long_date(value.decided_on)})"
        ends = f", ends {long_date(value.expires_on)}" if value.expires_on else ""
        return f"Awarded on {long_date(value.decided_on)}{ends}"
    if isinstance(value, QualifyingAward):
        words = AWARD_WORDS[value]
        return words[0].upper() + words[1:]
    return str(value)


@dataclass(frozen=True)
class ShownFact:
    """One current fact as the pages show it."""

    name: FactName
    label: str
    value: str
    source: str
    level: str
    evidence: str | None
    recorded_at: str
    expires_on: date | None


def shown(row: ResidentFact) -> ShownFact:
    name = FactName(row.name)
    evidence = None
    if row.evidence_type:
        kind = EVIDENCE_TYPES.get(row.evidence_type)
        label = kind.label if kind else row.evidence_type
        evidence = f"{label} ending {row.evidence_last4}" if row.evidence_last4 else label
    return ShownFact(
        name,
        FACT_LABELS[name],
        describe(name, from_json(name, row.value)),
        SOURCE_WORDS.get(row.source, row.source),
        LEVEL_WORDS.get(row.level, str(row.level)),
        evidence,
        long_date(row.recorded_at.date()),
        row.expires_on,
    )


def residency(address: Address) -> tuple[Residency, list[str]]:
    """Whether the address is in Kent, from the gazetteer; never a guess."""
    try:
        postcode = Postcode.parse(address.postcode)
    except PostcodeError:
        return Residency.UNKNOWN, []
    lookup = built_in_gazetteer().lookup(postcode)
    return lookup.residency, lookup.authority_names


# --- writing ------------------------------------------------------------------------------

#: Where the session keeps the residents whose facts changed in this transaction, for
#: :mod:`idservice.services.reevaluation` to evaluate again before it commits.
CHANGED = "kentcard.facts_changed"


@dataclass
class Change:
    """The facts that changed for one resident in this transaction, and who changed them."""

    facts: set[str]
    references: list[str]
    by: Recorder
    #: The record was created in this transaction: what it can get is shown on the pages
    #: that follow, not sent as a notice before the resident has even confirmed an address.
    new_record: bool = False
    #: The resident's current fact rows as the last write through this module left them,
    #: so that neither the next write nor the re-evaluation reads them again; None when
    #: something else noted a change (a merge) or a savepoint rolled back.
    rows: list[ResidentFact] | None = None


def note_change(
    resident_id: str,
    name: str,
    reference: str | None,
    by: Recorder,
    rows: list[ResidentFact] | None = None,
) -> None:
    """Remember that ``resident_id``'s fact ``name`` changed; evaluated again at commit.
    ``rows`` are the resident's current fact rows after the change, when the caller knows
    them all (the writes of this module)."""
    pending: dict[str, Change] = db_session().info.setdefault(CHANGED, {})
    change = pending.setdefault(resident_id, Change(set(), [], by))
    change.facts.add(name)
    change.rows = rows
    if reference and reference not in change.references:
        change.references.append(reference)


def pending_changes() -> dict[str, Change]:
    """The changes noted in this transaction, taken (the caller evaluates them)."""
    pending: dict[str, Change] = db_session().info.pop(CHANGED, {})
    return pending


def forget_changes(session: Any, outermost: bool) -> None:
    """A rollback: the changes it undid are not followed at the next commit. A savepoint's
    rollback keeps the residents noted (what the rest of the transaction changed still
    counts) but drops the rows remembered, which may include facts it undid."""
    if outermost:
        session.info.pop(CHANGED, None)
        return
    for change in session.info.get(CHANGED, {}).values():
        change.rows = None


def current_fact_rows(resident_id: str, change: Change | None = None) -> list[ResidentFact]:
    """The resident's current fact rows: as this transaction's last write left them (or
    ``change``, a change already taken for re-evaluation, left them), or read."""
    change = change or db_session().info.get(CHANGED, {}).get(resident_id)
    if change is not None and change.rows is not None:
        return [row for row in change.rows if row.superseded_at is None]
    return dao_current_fact_rows(resident_id)


def record(
    resident_id: str,
    name: FactName,
    value: FactValue,
    *,
    source: str,
    level: VerificationLevel,
    by: Recorder,
    expires_on: date | None = None,
    evidence_type: str | None = None,
    evidence_last4: str | None = None,
) -> ResidentFact | None:
    """Store a fact in the caller's transaction, superseding the current one of its name.

    The same value again at the same or a lower level changes nothing (a resident
    re-declaring a date of birth staff have checked does not weaken it); returns None then.
    The same value seen again in another document at the same level is recorded anew: a
    renewal that checks residency again needs proof seen since the last grant.
    """
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}")
    if evidence_type is not None and evidence_type not in EVIDENCE_TYPES:
        raise ValueError(f"unknown evidence type {evidence_type!r}")
    stored = to_json(name, value)
    rows = current_fact_rows(resident_id)
    current = [row for row in rows if row.name == name.value]
    for row in current:
        seen_again = (
            evidence_type is not None
            and level >= row.level
            and (row.evidence_type, row.evidence_last4) != (evidence_type, evidence_last4)
        )
        if (
            row.value == stored
            and row.level >= level
            and row.expires_on == expires_on
            and not seen_again
        ):
            return None
    now = utcnow()
    for row in current:
        row.superseded_at = now
    fact = ResidentFact(
        resident_id=resident_id,
        name=name.value,
        value=stored,
        source=source,
        level=int(level),
        recorded_by_type=by.type,
        recorded_by_id=by.id,
        channel=by.channel,
        recorded_at=now,
        expires_on=expires_on,
        evidence_type=evidence_type,
        evidence_last4=evidence_last4,
    )
    db_session.add(fact)
    db_session.flush()
    details: dict[str, object] = {
        "fact": name.value,
        "source": source,
        "level": int(level),
        "replaces": bool(current),
    }
    if evidence_type:
        details["evidence_type"] = evidence_type
    if by.staff_role:
        details.update(staff_role=by.staff_role, assisted=True)
    after = [row for row in rows if row.name != name.value] + [fact]
    note_change(resident_id, name.value, f"fact:{fact.id}", by, after)
    audit.record(
        "fact.recorded",
        resident_id=resident_id,
        actor_type=by.audit_actor,
        actor_id=by.id,
        channel=by.channel,
        details=details,
        reason=by.reason,
    )
    return fact


def supersede(resident_id: str, name: FactName, by: Recorder, why: str) -> bool:
    """End the current fact of ``name`` without a new value (it no longer applies)."""
    rows = current_fact_rows(resident_id)
    current = [row for row in rows if row.name == name.value]
    if not current:
        return False
    now = utcnow()
    for row in current:
        row.superseded_at = now
    note_change(resident_id, name.value, None, by, [row for row in rows if row not in current])
    audit.record(
        "fact.ended",
        resident_id=resident_id,
        actor_type=by.audit_actor,
        actor_id=by.id,
        channel=by.channel,
        details={"fact": name.value, "why": why},
        reason=by.reason,
    )
    return True


ADDRESS_FIELDS = frozenset({"address_line_1", "address_line_2", "town", "postcode", "uprn"})


def record_from_resident(
    resident: Resident, fields: Iterable[str], by: Recorder, *, new_record: bool = False
) -> None:
    """The record's date of birth and address as self-declared facts, after ``fields``
    changed (registration passes every field). Moving ends a ``lives_in_kent`` fact, which
    was about the old address; the engine derives residency from the new one."""
    changed = set(fields)
    if "date_of_birth" in changed:
        record(
            resident.id,
            FactName.DATE_OF_BIRTH,
            resident.date_of_birth,
            source="self-declared",
            level=VerificationLevel.DECLARED,
            by=by,
        )
    if changed & ADDRESS_FIELDS:
        moved = record(
            resident.id,
            FactName.ADDRESS,
            Address(resident.postcode, resident.uprn),
            source="self-declared",
            level=VerificationLevel.DECLARED,
            by=by,
        )
        if moved is not None:
            supersede(resident.id, FactName.LIVES_IN_KENT, by, "address changed")
    if new_record:
        pending: dict[str, Change] = db_session().info.get(CHANGED, {})
        if resident.id in pending:
            pending[resident.id].new_record = True


def default_expiry(name: FactName, on: date) -> date | None:
    """Facts about this school year end with it; others last until they change."""
    if name is FactName.FULL_TIME_EDUCATION:
        return academic_year_bounds(academic_year_start(on))[1]
    return None


def record_seen(
    resident: Resident,
    name: FactName,
    value: FactValue,
    *,
    evidence_type: str,
    evidence_last4: str,
    by: Recorder,
    expires_on: date | None = None,
) -> ResidentFact | None:
    """A fact staff saw in a document or check, in the caller's transaction.

    A date of birth or postcode must match the record (change the record's details first),
    so the record and its facts never disagree; a UPRN seen for the same address is kept
    on the record too. The document's type decides the source and level.
    """
    kind = EVIDENCE_TYPES[evidence_type]
    if name is FactName.DATE_OF_BIRTH and value != resident.date_of_birth:
        raise FactRefused(
            "This date of birth is different from the one on the record. Change the "
            "record's date of birth first, then record what you saw"
        )
    if isinstance(value, Address):
        if value.postcode != resident.postcode:
            raise FactRefused(
                "This postcode is different from the one on the record. Change the "
                "resident's address first, then record what you saw"
            )
        if value.uprn and value.uprn != resident.uprn:
            resident.uprn = value.uprn
    return record(
        resident.id,
        name,
        value,
        source=kind.source,
        level=kind.level,
        by=by,
        expires_on=expires_on,
        evidence_type=evidence_type,
        evidence_last4=evidence_last4,
    )


@transactional
def record_fact(
    resident_id: str,
    name: FactName,
    value: FactValue,
    *,
    evidence_type: str,
    evidence_last4: str,
    by: Recorder,
    expires_on: date | None = None,
) -> ResidentFact | None:
    """:func:`record_seen` in its own transaction (the "Record a fact" form)."""
    resident = db_session.get(Resident, resident_id)
    if resident is None:
        raise FactRefused("There is no such resident")
    return record_seen(
        resident,
        name,
        value,
        evidence_type=evidence_type,
        evidence_last4=evidence_last4,
        by=by,
        expires_on=expires_on,
    )


def current_shown(resident_id: str) -> list[ShownFact]:
    return [shown(row) for row in dao_current_fact_rows(resident_id)]


def current_value(resident_id: str, name: FactName) -> FactValue | None:
    """The value held now for ``name``, or None."""
    for row in dao_current_fact_rows(resident_id):
        if row.name == name.value:
            return from_json(name, row.value)
    return None
