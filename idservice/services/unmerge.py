"""Undoing a merge of two records within ``KENTCARD_MERGE_UNDO_DAYS`` (default 30).

One transaction, like the merge: the merged record gets back every entitlement it had,
with its own dates (a ``grant`` citing ``merge:<id>``), except one that would have ended
while merged; the survivor loses only what the merge gave it, and only if it has not
changed since (a renewal, a revocation, an expiry): those are listed for staff to check.
Facts, cards, requests (a request the merge withdrew waits again), consents, identity
evidence and pairwise subjects go back; the merged record is open again (its sessions and
tokens stay ended: the resident signs in again); partners told of the merge, or that met
the survivor since, get a ``subject-unmerged`` Security Event Token; both records are
audited. A hotlisted card stays hotlisted: readers may hold it in their hotlist.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from entitlements.ledger.events import EventKind
from idservice.db import db_session, transactional
from idservice.models.base import utcnow
from idservice.models.cards import Card
from idservice.models.evidence import IdentityEvidence
from idservice.models.facts import ResidentFact
from idservice.models.merges import ResidentMerge
from idservice.models.oauth import Consent, OAuthClient
from idservice.models.partner_api import PairwiseSubject
from idservice.models.partners import Partner
from idservice.models.residents import RESIDENT_ACTIVE, RESIDENT_MERGED, Resident
from idservice.models.service_requests import REQUEST_WAITING, REQUEST_WITHDRAWN, ServiceRequest
from idservice.partners import outbox
from idservice.partners.secevent import SUBJECT_UNMERGED
from idservice.services import duplicates, merge_plan
from idservice.services.facts import dao_current_fact_rows
from idservice.services.merge_plan import DROP, EXTEND, MOVE
from idservice.services.merge_steps import (
    LedgerBatch,
    StaffActor,
    as_date,
    audit_both,
    audit_view,
    dao_get_merge,
    follow_the_facts,
    ledger_event,
    lock,
    markers,
    move_rows,
    relevel,
    tell_partners,
)
from idservice.services.merges import CLOSED_WORDS, UnmergeRefused, undo_days, undo_deadline
from idservice.staff.dao import dao_get_staff_by_id


def undo_refusal(merge: ResidentMerge, now: datetime | None = None) -> str | None:
    """Why this merge cannot be undone now, in words for staff; None when it can."""
    now = now or utcnow()
    if merge.undone_at is not None:
        return f"This merge was already undone on {merge.undone_at:%-d %B %Y}"
    if now > undo_deadline(merge):
        days = undo_days()
        return (
            f"This merge can no longer be undone: it was made on {merge.merged_at:%-d %B %Y}, "
            f"more than {days} days ago. After {days} days partner services have been told "
            "and have joined their own records, and everything done since uses the joined "
            "record, so taking it apart could not be done exactly. If these are two "
            "people, register the other person again and tell the partners concerned"
        )
    survivor = db_session.get(Resident, merge.survivor_id)
    if survivor is not None and survivor.status == RESIDENT_MERGED:
        return (
            "The record this one was merged into has since been merged into another record "
            f"(reference {survivor.merged_into_id}). Undo that merge first"
        )
    if survivor is None or survivor.status != RESIDENT_ACTIVE:
        words = CLOSED_WORDS.get(survivor.status if survivor else "", "It is not in use")
        return f"The record kept is no longer in use ({words.lower()}), so this cannot be undone"
    return None


@transactional
def unmerge(actor: StaffActor, merge_id: str, now: datetime | None = None) -> ResidentMerge:
    """Put back what the merge moved, re-open the merged record and tell partners."""
    now = now or utcnow()
    row = dao_get_merge(merge_id)
    locked = lock(row.survivor_id, row.merged_id)
    db_session.refresh(row)
    refusal = undo_refusal(row, now)
    if refusal is not None:
        raise UnmergeRefused(refusal)
    merged = locked[row.merged_id]
    if merged.status != RESIDENT_MERGED or merged.merged_into_id != row.survivor_id:
        raise UnmergeRefused("The merged record is no longer merged into the record kept")
    moved = row.moved
    partners = _partners_for_undo(moved, row)
    undo: dict[str, Any] = {}
    row.undo_ledger_seqs = _unmerge_ledger(actor, row, now, undo)
    _restore_facts(moved, row)
    undo["cards_not_back"] = moved.get("cards_cancelled", [])
    move_rows(Card, moved.get("cards", []), row.survivor_id, row.merged_id)
    _restore_requests(moved, row)
    move_rows(Consent, moved.get("consents", []), row.survivor_id, row.merged_id)
    move_rows(IdentityEvidence, moved.get("evidence", []), row.survivor_id, row.merged_id)
    relevel(row.survivor_id, row.merged_id)
    for sector, subject in moved.get("subjects", []):
        db_session.execute(
            update(PairwiseSubject)
            .where(PairwiseSubject.sector == sector, PairwiseSubject.subject == subject)
            .values(resident_id=row.merged_id)
            .execution_options(synchronize_session=False)
        )
    undo["partners"] = tell_partners(
        partners, row.merged_id, row.survivor_id, SUBJECT_UNMERGED, now.date()
    )
    merged.status, merged.merged_into_id = RESIDENT_ACTIVE, None
    duplicates.mark_not_same_after_undo(
        row.survivor_id, row.merged_id, actor.staff_id, actor.reason
    )
    follow_the_facts(actor, row, row.survivor_id, row.merged_id)
    row.undone_at, row.undone_by_staff_id, row.undo_reason = now, actor.staff_id, actor.reason
    row.undo = undo
    audit_both("resident.unmerged", actor, row, {**moved, "partners": undo["partners"]})
    return row


def _partners_for_undo(
    moved: dict[str, Any], row: ResidentMerge
) -> list[tuple[Partner, OAuthClient]]:
    """The partners told of the merge, and any that met the survivor since: each once."""
    found = {
        partner.id: (partner, client)
        for partner, client in outbox.connected_partners(row.survivor_id, row.merged_id)
    }
    told = [pid for pid in moved.get("partners", []) if pid not in found]
    if told:
        rows = db_session.execute(
            select(Partner, OAuthClient)
            .join(OAuthClient, OAuthClient.client_id == Partner.client_id)
            .where(Partner.id.in_(told), Partner.active.is_(True), Partner.webhook_url.is_not(None))
        )
        for partner, client in rows:
            found[partner.id] = (partner, client)
    return [found[key] for key in sorted(found)]


def _unmerge_ledger(
    actor: StaffActor, row: ResidentMerge, now: datetime, undo: dict[str, Any]
) -> list[int]:
    batch = LedgerBatch()
    for event in markers(EventKind.RECORD_UNMERGED, actor, row, now):
        batch.add(event)
    ref = (f"merge:{row.id}",)
    back, ended, left = [], [], []
    for item in row.moved.get("entitlements", []):
        service = item["service"]
        current = merge_plan.dao_state(row.survivor_id, service)
        unchanged = current is not None and current.last_seq == item["survivor_seq"]
        if item["action"] == MOVE and unchanged:
            batch.add(
                ledger_event(
                    EventKind.REVOKE, actor, row.survivor_id, service, "merge undone", now, ref
                )
            )
        elif item["action"] == EXTEND and unchanged:
            batch.add(
                ledger_event(
                    EventKind.RENEW,
                    actor,
                    row.survivor_id,
                    service,
                    "merge undone: own dates again",
                    now,
                    ref,
                    as_date(item["survivor_from"]),
                    as_date(item["survivor_until"]),
                )
            )
        elif item["action"] != DROP:
            left.append(service)  # changed on the survivor since: staff check it
        until = as_date(item["valid_until"])
        if until is not None and until < now.date():
            ended.append(service)  # it would have ended while merged
            continue
        batch.add(
            ledger_event(
                EventKind.GRANT,
                actor,
                row.merged_id,
                service,
                "merge undone: given back",
                now,
                ref,
                as_date(item["valid_from"]),
                until,
            )
        )
        if item["status"] == "suspended":
            batch.add(
                ledger_event(
                    EventKind.SUSPEND,
                    actor,
                    row.merged_id,
                    service,
                    "merge undone: was suspended",
                    now,
                    ref,
                )
            )
        back.append(service)
    undo.update(services_back=back, services_ended=ended, services_changed=left)
    seqs, _ = batch.append()
    return seqs


def _restore_facts(moved: dict[str, Any], row: ResidentMerge) -> None:
    for item in moved.get("facts", []):
        fact = db_session.get(ResidentFact, item["id"])
        if fact is None or fact.resident_id != row.survivor_id:
            continue
        fact.resident_id = row.merged_id
        db_session.flush()
        if not any(r.name == fact.name and r.id != fact.id for r in _current(row.merged_id)):
            fact.superseded_at = None
        kept_id = item.get("supersedes")
        kept = db_session.get(ResidentFact, kept_id) if kept_id is not None else None
        db_session.flush()
        if kept is not None and not any(r.name == kept.name for r in _current(row.survivor_id)):
            kept.superseded_at = None
        db_session.flush()


def _current(resident_id: str) -> list[ResidentFact]:
    return dao_current_fact_rows(resident_id)


def _restore_requests(moved: dict[str, Any], row: ResidentMerge) -> None:
    move_rows(ServiceRequest, moved.get("requests", []), row.survivor_id, row.merged_id)
    for request_id in moved.get("requests_withdrawn", []):
        request = db_session.get(ServiceRequest, request_id)
        if request is not None and request.status == REQUEST_WITHDRAWN:
            request.status, request.decided_at, request.decision_reason = (
                REQUEST_WAITING,
                None,
                None,
            )
    db_session.flush()


@dataclass(frozen=True)
class MergeView:
    """A merge as its pages show it: both records, whether and until when it can be
    undone, and why not when it cannot."""

    merge: ResidentMerge
    survivor: Resident
    merged: Resident
    deadline: datetime
    refusal: str | None
    #: The names of the members of staff who merged and undid it.
    merged_by: str
    undone_by: str | None


@transactional
def look(actor: StaffActor, merge_id: str, screen: str, now: datetime | None = None) -> MergeView:
    """The merge and both records; the look at each record is audited."""
    row = dao_get_merge(merge_id)
    survivor = db_session.get(Resident, row.survivor_id)
    merged = db_session.get(Resident, row.merged_id)
    assert survivor is not None and merged is not None
    audit_view(actor, survivor.id, screen)
    audit_view(actor, merged.id, screen)
    undone_by = row.undone_by_staff_id
    return MergeView(
        row,
        survivor,
        merged,
        undo_deadline(row),
        undo_refusal(row, now),
        dao_get_staff_by_id(row.staff_id).name,
        dao_get_staff_by_id(undone_by).name if undone_by else None,
    )
