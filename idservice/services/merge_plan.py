"""What follows the surviving record when two records of one person are merged.

:func:`plan` reads both records and decides, row by row, what moves and what stays,
without writing anything; the staff page shows the plan and
:func:`idservice.services.merges.merge` carries out the same plan, so what staff were
shown is what happens. The rules (docs/merging-records.md):

- **Facts**: a current fact of the merged record moves when the surviving record has
  none of that name, or holds it at a lower verification level (which the moved fact
  then supersedes). Facts tied to the record's own details (date of birth, address,
  "lives in Kent") move only when they agree with the surviving record, so a record and
  its facts never disagree. Anything else stays with the merged record.
- **Entitlements**: one the survivor does not hold moves (``revoke`` on the merged id,
  ``grant`` on the survivor with the same dates); when both hold it, the one that lasts
  longer is kept (a ``renew`` on the survivor if it was the merged record's). A suspended
  entitlement is never made active by a merge.
- **Kent Cards** move with their history: a card names its holder, who is the same
  person, so it keeps working. When both records have an active card, the survivor's is
  kept and the merged record's is cancelled (one active card per person).
- **Requests** move, except one waiting for a service the survivor already holds or
  already waits for: that one is withdrawn, with the reason shown to the resident.
- **Connected services** (consents) move unless the survivor already agreed with the same
  service: then the survivor's agreement stands as it is.
- **Identity evidence** moves (it is about the person) and both identity levels follow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import func, select

from entitlements.codec import from_json
from entitlements.facts import Address, FactName
from entitlements.ledger import store as ledger
from entitlements.ledger.projection import EntitlementState
from idservice.cards import dao as cards_dao
from idservice.db import db_session
from idservice.models.cards import CARD_ACTIVE, Card
from idservice.models.evidence import IdentityEvidence
from idservice.models.facts import ResidentFact
from idservice.models.oauth import Consent, OAuthClient, OAuthToken
from idservice.models.partners import Partner
from idservice.models.residents import PasskeyCredential, Resident, ResidentSession
from idservice.models.service_requests import REQUEST_WAITING, ServiceRequest
from idservice.partners import outbox
from idservice.services import add_service_dao
from idservice.services.facts import dao_current_fact_rows

MOVE, EXTEND, DROP = "move", "extend", "drop"
CANCEL, WITHDRAW = "cancel", "withdraw"
#: Facts about the record's own details: they move only if they agree with the survivor.
RECORD_FACTS = frozenset({FactName.DATE_OF_BIRTH, FactName.ADDRESS, FactName.LIVES_IN_KENT})


@dataclass(frozen=True)
class FactMove:
    fact_id: int
    name: FactName
    moves: bool
    #: The survivor's current fact of the same name that the moved one supersedes.
    supersedes: int | None
    why: str


@dataclass(frozen=True)
class EntitlementMove:
    service: str
    action: str  # MOVE, EXTEND or DROP
    status: str  # the merged record's: active or suspended
    valid_from: date | None
    valid_until: date | None
    survivor_status: str | None = None
    survivor_from: date | None = None
    survivor_until: date | None = None


@dataclass(frozen=True)
class CardMove:
    card_id: str
    last4: str
    status: str
    action: str  # MOVE or CANCEL


@dataclass(frozen=True)
class RequestMove:
    request_id: str
    service: str
    status: str
    action: str  # MOVE or WITHDRAW
    why: str = ""


@dataclass(frozen=True)
class ConsentMove:
    consent_id: int
    client_id: str
    client_name: str
    moves: bool


@dataclass
class MergePlan:
    survivor: Resident
    merged: Resident
    facts: list[FactMove] = field(default_factory=list)
    entitlements: list[EntitlementMove] = field(default_factory=list)
    cards: list[CardMove] = field(default_factory=list)
    requests: list[RequestMove] = field(default_factory=list)
    consents: list[ConsentMove] = field(default_factory=list)
    evidence: list[IdentityEvidence] = field(default_factory=list)
    partners: list[tuple[Partner, OAuthClient]] = field(default_factory=list)
    #: The merged record's ways in that stop: sessions, tokens, passkeys (never moved).
    sessions: int = 0
    tokens: int = 0
    passkeys: int = 0


# --- data access --------------------------------------------------------------------------


def dao_held_states(resident_id: str) -> dict[str, EntitlementState]:
    return {state.service: state for state in add_service_dao.dao_held_states(resident_id)}


def dao_state(resident_id: str, service: str) -> EntitlementState | None:
    row = db_session.execute(
        select(ledger.STATES).where(
            ledger.STATES.c.resident == resident_id, ledger.STATES.c.service == service
        )
    ).first()
    return None if row is None else ledger._state_from_row(row)


def dao_requests(resident_id: str) -> list[ServiceRequest]:
    return list(
        db_session.scalars(
            select(ServiceRequest)
            .where(ServiceRequest.resident_id == resident_id)
            .order_by(ServiceRequest.requested_at, ServiceRequest.id)
        )
    )


def dao_consents(resident_id: str) -> list[tuple[Consent, str]]:
    """The resident's consents with each service's registered name."""
    rows = db_session.execute(
        select(Consent, OAuthClient.name)
        .join(OAuthClient, OAuthClient.client_id == Consent.client_id)
        .where(Consent.resident_id == resident_id)
        .order_by(Consent.id)
    )
    return [(consent, str(name)) for consent, name in rows]


def dao_evidence(resident_id: str) -> list[IdentityEvidence]:
    return list(
        db_session.scalars(
            select(IdentityEvidence)
            .where(IdentityEvidence.resident_id == resident_id)
            .order_by(IdentityEvidence.id)
        )
    )


def _count(model: Any, *where: Any) -> int:
    return int(db_session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


# --- the rules ----------------------------------------------------------------------------


def _agrees(row: ResidentFact, survivor: Resident, merged: Resident) -> bool:
    """A fact about the record's own details agrees with the surviving record."""
    name = FactName(row.name)
    if name is FactName.DATE_OF_BIRTH:
        return bool(from_json(name, row.value) == survivor.date_of_birth)
    if name is FactName.ADDRESS:
        value = from_json(name, row.value)
        return isinstance(value, Address) and value.postcode == survivor.postcode
    if name is FactName.LIVES_IN_KENT:  # proof seen for the merged record's address
        return merged.postcode == survivor.postcode
    return True


def fact_moves(survivor: Resident, merged: Resident) -> list[FactMove]:
    theirs = {row.name: row for row in dao_current_fact_rows(survivor.id)}
    moves = []
    for row in dao_current_fact_rows(merged.id):
        name = FactName(row.name)
        kept = theirs.get(row.name)
        if name in RECORD_FACTS and not _agrees(row, survivor, merged):
            moves.append(FactMove(row.id, name, False, None, "differs from the record kept"))
        elif kept is None:
            moves.append(FactMove(row.id, name, True, None, "the record kept has none"))
        elif row.level > kept.level:
            moves.append(
                FactMove(row.id, name, True, kept.id, "checked more strongly than the one kept")
            )
        else:
            moves.append(FactMove(row.id, name, False, None, "the record kept already has it"))
    return moves


def _lasts_longer(a: EntitlementState, b: EntitlementState) -> bool:
    """``a`` ends later than ``b`` (no end date is the longest)."""
    if a.valid_until is None:
        return b.valid_until is not None
    return b.valid_until is not None and a.valid_until > b.valid_until


def entitlement_moves(survivor_id: str, merged_id: str) -> list[EntitlementMove]:
    theirs = dao_held_states(survivor_id)
    moves = []
    for code, state in sorted(dao_held_states(merged_id).items()):
        kept = theirs.get(code)
        if kept is None:
            action = MOVE
        elif state.status == kept.status == "active" and _lasts_longer(state, kept):
            action = EXTEND
        else:
            action = DROP
        moves.append(
            EntitlementMove(
                code,
                action,
                state.status,
                state.valid_from,
                state.valid_until,
                kept.status if kept else None,
                kept.valid_from if kept else None,
                kept.valid_until if kept else None,
            )
        )
    return moves


def card_moves(survivor_id: str, merged_id: str) -> list[CardMove]:
    survivor_active = cards_dao.dao_get_active_card(survivor_id)
    return [
        CardMove(
            card.id,
            card.card_number[-4:],
            card.status,
            CANCEL if card.status == CARD_ACTIVE and survivor_active is not None else MOVE,
        )
        for card in cards_dao.dao_get_cards_for_resident(merged_id)
    ]


def request_moves(survivor_id: str, merged_id: str) -> list[RequestMove]:
    waiting = {r.service for r in dao_requests(survivor_id) if r.status == REQUEST_WAITING}
    held = set(dao_held_states(survivor_id))
    moves = []
    for request in dao_requests(merged_id):
        if request.status == REQUEST_WAITING and request.service in held:
            why = "the record kept already has this service"
            moves.append(RequestMove(request.id, request.service, request.status, WITHDRAW, why))
        elif request.status == REQUEST_WAITING and request.service in waiting:
            why = "the record kept is already waiting for a decision on this service"
            moves.append(RequestMove(request.id, request.service, request.status, WITHDRAW, why))
        else:
            moves.append(RequestMove(request.id, request.service, request.status, MOVE))
    return moves


def consent_moves(survivor_id: str, merged_id: str) -> list[ConsentMove]:
    theirs = {consent.client_id for consent, _ in dao_consents(survivor_id)}
    return [
        ConsentMove(consent.id, consent.client_id, name, consent.client_id not in theirs)
        for consent, name in dao_consents(merged_id)
    ]


def plan(survivor: Resident, merged: Resident) -> MergePlan:
    """Everything a merge of ``merged`` into ``survivor`` would do; writes nothing."""
    return MergePlan(
        survivor,
        merged,
        facts=fact_moves(survivor, merged),
        entitlements=entitlement_moves(survivor.id, merged.id),
        cards=card_moves(survivor.id, merged.id),
        requests=request_moves(survivor.id, merged.id),
        consents=consent_moves(survivor.id, merged.id),
        evidence=dao_evidence(merged.id),
        partners=outbox.connected_partners(merged.id, survivor.id),
        sessions=_count(
            ResidentSession,
            ResidentSession.resident_id == merged.id,
            ResidentSession.ended_at.is_(None),
        ),
        tokens=_count(
            OAuthToken, OAuthToken.resident_id == merged.id, OAuthToken.revoked_at.is_(None)
        ),
        passkeys=_count(PasskeyCredential, PasskeyCredential.resident_id == merged.id),
    )


def card_by_id(card_id: str) -> Card | None:
    return db_session.get(Card, card_id)
