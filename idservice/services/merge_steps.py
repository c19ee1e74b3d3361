"""The steps a merge and its undo share: locking, ledger events, moving rows, telling
partners and auditing both records. Used by :mod:`idservice.services.merges` and
:mod:`idservice.services.unmerge` only, inside their transactions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from flask import current_app
from sqlalchemy import select, update

from entitlements.ledger import store as ledger
from entitlements.ledger.events import Channel, EventKind, LedgerEvent
from idservice import audit
from idservice.db import db_session
from idservice.models.base import utcnow
from idservice.models.cards import CARD_ACTIVE, Card
from idservice.models.merges import ResidentMerge
from idservice.models.oauth import OAuthClient
from idservice.models.partners import Partner
from idservice.models.residents import Resident
from idservice.oauth.claims import pairwise_sub
from idservice.partners import outbox
from idservice.partners.secevent import ALWAYS_SENT
from idservice.services import facts, merge_plan
from idservice.services.residents import NotFound
from idservice.staff import identity


@dataclass(frozen=True)
class StaffActor:
    """Who merges or undoes, with their role, how they are helping, and the reason given
    (shown to the resident on their activity page)."""

    staff_id: str
    staff_role: str
    channel: str
    reason: str


# --- data access --------------------------------------------------------------------------


def dao_get_merge(merge_id: str) -> ResidentMerge:
    merge = db_session.get(ResidentMerge, merge_id)
    if merge is None:
        raise NotFound("merge")
    return merge


def dao_merges_of(resident_id: str) -> list[ResidentMerge]:
    """Merges into or of this record, newest first."""
    return list(
        db_session.scalars(
            select(ResidentMerge)
            .where(
                (ResidentMerge.survivor_id == resident_id)
                | (ResidentMerge.merged_id == resident_id)
            )
            .order_by(ResidentMerge.merged_at.desc())
        )
    )


def dao_open_merge_of(merged_id: str) -> ResidentMerge | None:
    return db_session.scalar(
        select(ResidentMerge).where(
            ResidentMerge.merged_id == merged_id, ResidentMerge.undone_at.is_(None)
        )
    )


def lock(*resident_ids: str) -> dict[str, Resident]:
    """Touch each row (the lock), in a fixed order, then read it as it is now."""
    found = {}
    for resident_id in sorted(set(resident_ids)):
        result = db_session.execute(
            update(Resident)
            .where(Resident.id == resident_id)
            .values(updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if getattr(result, "rowcount", 0):
            resident = db_session.get(Resident, resident_id, populate_existing=True)
            assert resident is not None
            found[resident_id] = resident
    return found


def audit_view(actor: StaffActor, resident_id: str, screen: str) -> None:
    audit.record(
        "resident.viewed",
        resident_id=resident_id,
        actor_type="staff",
        actor_id=actor.staff_id,
        channel=actor.channel,
        reason=actor.reason or None,
        details={"staff_role": actor.staff_role, "screen": screen},
    )


# --- the ledger ---------------------------------------------------------------------------


def ledger_event(
    kind: EventKind,
    actor: StaffActor,
    resident_id: str,
    service: str,
    reason: str,
    now: datetime,
    evidence: tuple[str, ...],
    valid_from: date | None = None,
    valid_until: date | None = None,
) -> LedgerEvent:
    return LedgerEvent(
        kind=kind,
        resident=resident_id,
        service=service,
        actor=actor.staff_id,
        channel=Channel(actor.channel),
        reason=reason,
        occurred_at=now,
        evidence=evidence,
        valid_from=valid_from,
        valid_until=valid_until,
    )


def markers(
    kind: EventKind, actor: StaffActor, merge: ResidentMerge, now: datetime
) -> list[LedgerEvent]:
    ref = f"merge:{merge.id}"
    verb = "merged" if kind is EventKind.RECORD_MERGED else "merge undone"
    return [
        ledger_event(
            kind,
            actor,
            merge.merged_id,
            "merged-into",
            f"record {verb}",
            now,
            (ref, f"resident:{merge.survivor_id}"),
        ),
        ledger_event(
            kind,
            actor,
            merge.survivor_id,
            "merged-from",
            f"record {verb}",
            now,
            (ref, f"resident:{merge.merged_id}"),
        ),
    ]


class LedgerBatch:
    """Ledger events to append at once, each remembered under a key for its seq."""

    def __init__(self) -> None:
        self.events: list[LedgerEvent] = []
        self.keys: list[tuple[str, str] | None] = []

    def add(self, event: LedgerEvent, key: tuple[str, str] | None = None) -> None:
        self.events.append(event)
        self.keys.append(key)

    def append(self) -> tuple[list[int], dict[tuple[str, str], int]]:
        seqs = ledger.append_in(db_session.connection(), self.events)
        last = {key: seq for key, seq in zip(self.keys, seqs, strict=True) if key is not None}
        return seqs, last


def as_iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def as_date(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def move_rows(model: Any, ids: list[Any], from_id: str, to_id: str) -> list[Any]:
    """Give rows of ``model`` with these ids (still ``from_id``'s) to ``to_id``."""
    if not ids:
        return []
    moved = list(
        db_session.scalars(select(model.id).where(model.id.in_(ids), model.resident_id == from_id))
    )
    if moved:
        db_session.execute(
            update(model)
            .where(model.id.in_(moved))
            .values(resident_id=to_id)
            .execution_options(synchronize_session="fetch")
        )
    return sorted(moved)


def relevel(*resident_ids: str) -> None:
    for resident_id in resident_ids:
        resident = db_session.get(Resident, resident_id)
        assert resident is not None
        types = [e.document_type for e in merge_plan.dao_evidence(resident_id)]
        resident.identity_level = identity.level_for(types)


def tell_partners(
    partners: list[tuple[Partner, OAuthClient]],
    merged_id: str,
    survivor_id: str,
    event_type: str,
    on: date,
) -> list[int]:
    """One SET per partner: ``sub`` is the merged record's subject; the payload names it
    and the survivor's, both as that partner knows them. No merge id (a value shared by
    every partner would let partners join their records through us)."""
    assert event_type in ALWAYS_SENT  # whatever each partner subscribed to
    settings = current_app.config["KENTCARD"]
    told = []
    for partner, client in partners:
        payload = {
            "merged_subject": pairwise_sub(settings, client.sector, merged_id),
            "surviving_subject": pairwise_sub(settings, client.sector, survivor_id),
            "occurred_on": on.isoformat(),
        }
        outbox.enqueue(partner, client, merged_id, event_type, payload, None)
        told.append(partner.id)
    db_session.flush()
    return told


def audit_both(action: str, actor: StaffActor, row: ResidentMerge, moved: dict[str, Any]) -> None:
    summary = {
        "merge_id": row.id,
        "services": [e["service"] for e in moved.get("entitlements", [])],
        "facts": [f["name"] for f in moved.get("facts", [])],
        "cards": len(moved.get("cards", [])),
        "partners_told": len(moved.get("partners", [])),
    }
    for side, resident_id, other in (
        ("survivor", row.survivor_id, row.merged_id),
        ("merged", row.merged_id, row.survivor_id),
    ):
        audit.record(
            action,
            resident_id=resident_id,
            actor_type="staff",
            actor_id=actor.staff_id,
            channel=actor.channel,
            reason=actor.reason,
            details={
                "staff_role": actor.staff_role,
                "side": side,
                "other_record": other,
                **summary,
            },
        )


def describe_card(card_id: str) -> str:
    card = db_session.get(Card, card_id)
    if card is None:
        return "a card"
    state = "active" if card.status == CARD_ACTIVE else card.status
    return f"card ending {card.card_number[-4:]} ({state})"


def follow_the_facts(actor: StaffActor, merge: ResidentMerge, *resident_ids: str) -> None:
    """The records' services are decided again before the merge (or undo) commits, as after
    any change of facts (:mod:`idservice.services.reevaluation`): what moved may not meet
    the rules on the record it moved to."""
    by = facts.Recorder("staff", actor.staff_id, actor.channel, actor.staff_role, actor.reason)
    for resident_id in resident_ids:
        facts.note_change(resident_id, "merge", f"merge:{merge.id}", by)
