"""Merging two records of one person (staff console, permission ``merge-records``).

One transaction: both resident rows are locked first (in a fixed order, so two merges
cannot deadlock), then the plan (:mod:`idservice.services.merge_plan`) is carried out:
ledger events, facts, cards, requests, consents, identity evidence and partners' pairwise
subjects move; the merged record's sessions and tokens end and it becomes ``merged`` (no
sign-in, pointing at the survivor); partners with a relationship with either record get a
``subject-merged`` Security Event Token; both records are audited; and
``resident_merges`` keeps every id that moved, so that :mod:`idservice.services.unmerge`
can put back exactly that.

Ledger events stay pseudonymous: a ``record-merged`` marker on each id cites the merge
(``merge:<id>``) and the other id (``resident:<id>``); entitlements move with ``revoke``
on the merged id and ``grant`` (or ``renew``) on the survivor, with the same dates.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select, update

from entitlements.ledger.events import EventKind
from idservice.db import db_session, transactional
from idservice.models.base import utcnow
from idservice.models.cards import CARD_HOTLISTED, Card
from idservice.models.evidence import IdentityEvidence
from idservice.models.facts import ResidentFact
from idservice.models.merges import ResidentMerge
from idservice.models.oauth import Consent
from idservice.models.partner_api import PairwiseSubject
from idservice.models.residents import (
    RESIDENT_ACTIVE,
    RESIDENT_CLOSED,
    RESIDENT_DECEASED,
    RESIDENT_ERASED,
    RESIDENT_MERGED,
    Resident,
)
from idservice.models.service_requests import REQUEST_WITHDRAWN, ServiceRequest
from idservice.oauth.claims import pairwise_sub
from idservice.partners.secevent import SUBJECT_MERGED
from idservice.services import duplicates, merge_plan
from idservice.services.life_events import revoke_access
from idservice.services.merge_plan import CANCEL, EXTEND, MOVE, WITHDRAW, MergePlan
from idservice.services.merge_steps import (
    LedgerBatch,
    StaffActor,
    as_iso,
    audit_both,
    audit_view,
    follow_the_facts,
    ledger_event,
    lock,
    markers,
    move_rows,
    relevel,
    tell_partners,
)
from idservice.services.residents import NotFound

#: Shown to the resident on a request withdrawn because the record kept had it already.
WITHDRAWN_WORDS = "Withdrawn when two records of yours were joined: {why}"


class MergeRefused(ValueError):
    """The merge cannot be made; ``field`` is ``"with"`` when the other record is why."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class UnmergeRefused(ValueError):
    """The merge cannot be undone; the message says why, in words staff can act on."""


def undo_days() -> int:
    return int(current_app.config["KENTCARD"].merge_undo_days)


def undo_deadline(merge: ResidentMerge) -> datetime:
    return merge.merged_at + timedelta(days=undo_days())


# --- checks -------------------------------------------------------------------------------

CLOSED_WORDS = {
    RESIDENT_CLOSED: "This account is closed",
    RESIDENT_DECEASED: "A death is recorded on this record",
    RESIDENT_ERASED: "This record's personal data was erased",
}


def check_pair(survivor: Resident | None, other: Resident | None, other_id: str) -> None:
    """Raises :class:`MergeRefused` unless ``other`` can be merged into ``survivor``."""
    if survivor is None:
        raise NotFound("resident")
    if survivor.status == RESIDENT_MERGED:
        raise MergeRefused(
            "The record you have open was itself merged into another record (reference "
            f"{survivor.merged_into_id}). Open that record and merge into it instead"
        )
    if survivor.status != RESIDENT_ACTIVE:
        words = CLOSED_WORDS.get(survivor.status, "This record is not in use")
        raise MergeRefused(f"{words} (the record you have open), so nothing can be merged into it")
    if other_id == survivor.id:
        raise MergeRefused(
            "This is the record you have open. Enter the reference of the other record", "with"
        )
    if other is None:
        raise MergeRefused(
            "There is no record with this reference. Copy it from the other record's page",
            "with",
        )
    if other.status == RESIDENT_MERGED:
        where = (
            "the record you have open"
            if other.merged_into_id == survivor.id
            else f"another record (reference {other.merged_into_id})"
        )
        raise MergeRefused(f"This record has already been merged into {where}", "with")
    if other.status != RESIDENT_ACTIVE:
        words = CLOSED_WORDS.get(other.status, "This record is not in use")
        raise MergeRefused(f"{words}, so it cannot be merged", "with")


@transactional
def compare(actor: StaffActor, survivor_id: str, other_id: str) -> MergePlan:
    """Both records side by side and what a merge would move; the look at each record is
    audited (``actor.reason`` is why the record was opened). Writes nothing else."""
    survivor = db_session.get(Resident, survivor_id)
    other = db_session.get(Resident, other_id)
    check_pair(survivor, other, other_id)
    assert survivor is not None and other is not None
    found = merge_plan.plan(survivor, other)
    audit_view(actor, survivor.id, "merge: the record kept")
    audit_view(actor, other.id, "merge: the record to merge")
    return found


# --- merging ------------------------------------------------------------------------------


@transactional
def merge(
    actor: StaffActor, survivor_id: str, other_id: str, now: datetime | None = None
) -> ResidentMerge:
    """Merge ``other_id`` into ``survivor_id``: all of it, or nothing (see the module)."""
    now = now or utcnow()
    locked = lock(survivor_id, other_id)
    survivor, merged = locked.get(survivor_id), locked.get(other_id)
    check_pair(survivor, merged, other_id)
    assert survivor is not None and merged is not None
    found = merge_plan.plan(survivor, merged)
    row = ResidentMerge(
        survivor_id=survivor.id,
        merged_id=merged.id,
        staff_id=actor.staff_id,
        staff_role=actor.staff_role,
        channel=actor.channel,
        reason=actor.reason,
        merged_at=now,
        moved={},
        ledger_seqs=[],
        undo={},
        undo_ledger_seqs=[],
    )
    db_session.add(row)
    db_session.flush()
    moved: dict[str, Any] = {}
    row.ledger_seqs = _merge_ledger(actor, row, found, now, moved)
    moved["facts"] = _move_facts(found, now)
    moved.update(_move_cards(found, now))
    moved.update(_move_requests(found, now))
    moved["consents"] = move_rows(
        Consent, [c.consent_id for c in found.consents if c.moves], merged.id, survivor.id
    )
    moved["evidence"] = move_rows(
        IdentityEvidence, [e.id for e in found.evidence], merged.id, survivor.id
    )
    relevel(survivor.id, merged.id)
    moved["subjects"] = _move_subjects(found, merged.id, survivor.id)
    moved["partners"] = tell_partners(
        found.partners, merged.id, survivor.id, SUBJECT_MERGED, now.date()
    )
    moved["sessions_ended"], moved["tokens_revoked"] = found.sessions, found.tokens
    revoke_access(merged.id)
    merged.status = RESIDENT_MERGED
    merged.merged_into_id = survivor.id
    duplicates.mark_merged(survivor.id, merged.id, actor.staff_id)
    follow_the_facts(actor, row, survivor.id)
    row.moved = moved
    audit_both("resident.merged", actor, row, moved)
    return row


def _merge_ledger(
    actor: StaffActor, row: ResidentMerge, found: MergePlan, now: datetime, moved: dict[str, Any]
) -> list[int]:
    batch = LedgerBatch()
    for event in markers(EventKind.RECORD_MERGED, actor, row, now):
        batch.add(event)
    ref = (f"merge:{row.id}",)
    for move in found.entitlements:
        batch.add(
            ledger_event(
                EventKind.REVOKE, actor, row.merged_id, move.service, "record merged", now, ref
            ),
            ("merged", move.service),
        )
        if move.action == MOVE:
            batch.add(
                ledger_event(
                    EventKind.GRANT,
                    actor,
                    row.survivor_id,
                    move.service,
                    "moved from a merged record",
                    now,
                    ref,
                    move.valid_from,
                    move.valid_until,
                ),
                ("survivor", move.service),
            )
            if move.status == "suspended":
                batch.add(
                    ledger_event(
                        EventKind.SUSPEND,
                        actor,
                        row.survivor_id,
                        move.service,
                        "suspended on the merged record",
                        now,
                        ref,
                    ),
                    ("survivor", move.service),
                )
        elif move.action == EXTEND:
            batch.add(
                ledger_event(
                    EventKind.RENEW,
                    actor,
                    row.survivor_id,
                    move.service,
                    "the longer of two kept on merging records",
                    now,
                    ref,
                    move.valid_from,
                    move.valid_until,
                ),
                ("survivor", move.service),
            )
    for card in found.cards:
        if card.action == CANCEL:
            batch.add(
                ledger_event(
                    EventKind.CARD_HOTLISTED,
                    actor,
                    row.merged_id,
                    "kent-card",
                    "card cancelled: record merged",
                    now,
                    (f"card:{card.card_id}", *ref),
                )
            )
    seqs, last = batch.append()
    moved["entitlements"] = [
        {
            "service": m.service,
            "action": m.action,
            "status": m.status,
            "valid_from": as_iso(m.valid_from),
            "valid_until": as_iso(m.valid_until),
            "survivor_from": as_iso(m.survivor_from),
            "survivor_until": as_iso(m.survivor_until),
            "survivor_seq": last.get(("survivor", m.service)),
        }
        for m in found.entitlements
    ]
    return seqs


def _move_facts(found: MergePlan, now: datetime) -> list[dict[str, Any]]:
    moved = []
    for move in found.facts:
        if not move.moves:
            continue
        fact = db_session.get(ResidentFact, move.fact_id)
        assert fact is not None
        if move.supersedes is not None:
            kept = db_session.get(ResidentFact, move.supersedes)
            assert kept is not None
            kept.superseded_at = now
        fact.resident_id = found.survivor.id
        moved.append({"id": fact.id, "name": fact.name, "supersedes": move.supersedes})
    return moved


def _move_cards(found: MergePlan, now: datetime) -> dict[str, list[str]]:
    moved, cancelled = [], []
    for move in found.cards:
        card = db_session.get(Card, move.card_id)
        assert card is not None
        if move.action == CANCEL:  # hotlisted without a reason code: "card cancelled"
            card.status, card.hotlist_reason, card.status_changed_at = CARD_HOTLISTED, None, now
            cancelled.append(card.id)
        else:
            card.resident_id = found.survivor.id
            moved.append(card.id)
    db_session.flush()  # the merged card's status before the survivor's takes its place
    return {"cards": moved, "cards_cancelled": cancelled}


def _move_requests(found: MergePlan, now: datetime) -> dict[str, list[str]]:
    moved, withdrawn = [], []
    for move in found.requests:
        request = db_session.get(ServiceRequest, move.request_id)
        assert request is not None
        if move.action == WITHDRAW:
            request.status, request.decided_at = REQUEST_WITHDRAWN, now
            request.decision_reason = WITHDRAWN_WORDS.format(why=move.why)
            withdrawn.append(request.id)
        else:
            request.resident_id = found.survivor.id
            moved.append(request.id)
    db_session.flush()  # withdrawn first: the one waiting request per service
    return {"requests": moved, "requests_withdrawn": withdrawn}


def _move_subjects(found: MergePlan, merged_id: str, survivor_id: str) -> list[list[str]]:
    """Every pairwise subject released for the merged record now finds the survivor, and
    so does the one each partner told about the merge may know it by."""
    table = PairwiseSubject.__table__
    moved = {
        (row.sector, row.subject)
        for row in db_session.execute(
            select(table.c.sector, table.c.subject).where(table.c.resident_id == merged_id)
        )
    }
    db_session.execute(
        update(PairwiseSubject)
        .where(PairwiseSubject.resident_id == merged_id)
        .values(resident_id=survivor_id)
        .execution_options(synchronize_session=False)
    )
    settings = current_app.config["KENTCARD"]
    for _partner, client in found.partners:
        for resident_id in (merged_id, survivor_id):
            subject = pairwise_sub(settings, client.sector, resident_id)
            if db_session.get(PairwiseSubject, (client.sector, subject)) is None:
                db_session.add(
                    PairwiseSubject(sector=client.sector, subject=subject, resident_id=survivor_id)
                )
                if resident_id == merged_id:
                    moved.add((client.sector, subject))
            db_session.flush()
    return [list(pair) for pair in sorted(moved)]
