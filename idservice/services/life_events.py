"""Life events told to us once: death, move out of Kent, change of name, change of address.

Each is one transaction: the resident record, the ledger events (the life event itself
and every entitlement it ends), cards cancelled, the ``life_events`` row, the outbox rows
for partners, mail to the resident and the audit record land together or not at all.
The first statement touches the resident's row, so two notifications of the same event
serialise on it (and on SQLite take the write lock before anything is read).

A death or move out ends entitlements with ``revoke`` events (or, for a move on a later
date, a ``renew`` that cuts the grant short to the day before the move). Ledger events
carry the kind of life event and a reason code only; the date and who told us are in
``life_events``, the new name or address only on the resident record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

from entitlements.catalogue import load_catalogue
from entitlements.dates import long_date
from entitlements.facts import FactName
from entitlements.ledger import store as ledger
from entitlements.ledger.events import Channel, EventKind, LedgerEvent
from idservice import audit, validation
from idservice.auth.sessions import end_all_sessions
from idservice.cards.dao import dao_get_active_card, dao_get_cards_for_resident
from idservice.db import db_session, transactional
from idservice.models.base import utcnow
from idservice.models.cards import CARD_ACTIVE, CARD_HOTLISTED, CARD_ORDERED, CARD_PERSONALISED
from idservice.models.partners import LifeEvent
from idservice.models.residents import (
    RESIDENT_ACTIVE,
    RESIDENT_DECEASED,
    RESIDENT_MERGED,
    Resident,
)
from idservice.oauth.dao import dao_revoke_all_tokens_for
from idservice.partners import outbox
from idservice.partners.secevent import ADDRESS_CHANGED, DEATH, MOVED_OUT, NAME_CHANGED
from idservice.services import facts, notices
from idservice.services.add_service_dao import dao_held_states
from idservice.services.life_events_dao import dao_add_life_event, dao_lock_resident

KINDS = {
    DEATH: "Death",
    MOVED_OUT: "Moved out of Kent",
    NAME_CHANGED: "Change of name",
    ADDRESS_CHANGED: "Change of address",
}
SOURCES = ("registrar", "staff", "resident")
#: A catalogue check that makes a service residency-based: it ends on a move out of Kent.
RESIDENCY_TEST = "lives-in-kent"


class LifeEventRefused(ValueError):
    """The event cannot be recorded; the message says why, in words staff can act on."""


class AlreadyRecorded(LifeEventRefused):
    """The same death was told to us before (a registrar feed sent it twice)."""


class NoChange(LifeEventRefused):
    """The record already says what we were told: the same name or the same address."""


def _checked_date(rule: validation.DateRule, on: date) -> date:
    if rule.check is None:
        return on
    try:
        return rule.check(on)
    except validation.ValidationError as exc:
        raise LifeEventRefused(str(exc)) from None


@dataclass(frozen=True)
class Notifier:
    """Who told us: a registrar feed, a member of staff (with role and channel) or the
    resident. ``channel`` is the audit channel; ``reference`` the notifier's own."""

    source: str
    actor_id: str
    channel: str = "system"
    staff_role: str | None = None
    reason: str | None = None
    reference: str | None = None

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"unknown source {self.source!r}")

    @property
    def ledger_actor(self) -> str:
        return self.actor_id if self.source == "staff" else self.source

    @property
    def recorder(self) -> facts.Recorder:
        """The notifier as the recorder of the facts the life event changes."""
        kind = {"staff": "staff", "resident": "resident"}.get(self.source, "system")
        return facts.Recorder(kind, self.actor_id, self.channel, self.staff_role, self.reason)

    @property
    def ledger_channel(self) -> Channel:
        return Channel(self.channel)


@dataclass
class Outcome:
    life_event: LifeEvent
    ended: list[outbox.EndedEntitlement] = field(default_factory=list)
    cards_cancelled: int = 0
    partner_events: int = 0


def residency_services() -> frozenset[str]:
    return frozenset(
        s.code for s in load_catalogue() if any(c.test == RESIDENCY_TEST for c in s.conditions)
    )


def _event(
    kind: EventKind,
    notifier: Notifier,
    resident_id: str,
    service: str,
    reason: str,
    **dates: date | None,
) -> LedgerEvent:
    return LedgerEvent(
        kind=kind,
        resident=resident_id,
        service=service,
        actor=notifier.ledger_actor,
        channel=notifier.ledger_channel,
        reason=reason,
        occurred_at=utcnow(),
        evidence=(),
        **dates,
    )


_DATE_RULES = {
    DEATH: validation.DATE_OF_DEATH,
    MOVED_OUT: validation.MOVE_OUT_DATE,
    NAME_CHANGED: validation.NAME_CHANGE_DATE,
    ADDRESS_CHANGED: validation.ADDRESS_CHANGE_DATE,
}


def _begin(resident: Resident, kind: str, on: date, notifier: Notifier) -> LifeEvent:
    on = _checked_date(_DATE_RULES[kind], on)
    if resident.status == RESIDENT_MERGED:  # even a death: it belongs on the record kept
        raise LifeEventRefused(
            "This record was merged into another record "
            f"(reference {resident.merged_into_id}): record it on that one"
        )
    if resident.status != RESIDENT_ACTIVE and kind != DEATH:
        raise LifeEventRefused("This record is closed: no change can be recorded on it")
    event = LifeEvent(
        resident_id=resident.id,
        kind=kind,
        occurred_on=on,
        source=notifier.source,
        actor_id=notifier.actor_id,
        reference=notifier.reference,
        ledger_seqs=[],
    )
    return dao_add_life_event(event)


def _finish(
    outcome: Outcome,
    notifier: Notifier,
    events: list[LedgerEvent],
    payload: dict[str, object],
    fields: list[str] | None = None,
) -> Outcome:
    life = outcome.life_event
    marker = _event(
        EventKind.LIFE_EVENT, notifier, life.resident_id, life.kind, f"{life.kind} notified"
    )
    marker = replace(marker, evidence=(f"life-event:{life.id}",))
    seqs = ledger.append_in(db_session.connection(), [marker, *events])
    life.ledger_seqs = seqs
    rows = outbox.notify(life.resident_id, life.kind, payload, outcome.ended, life.id)
    outcome.partner_events = len(rows)
    audit.record(
        "life_event.recorded",
        resident_id=life.resident_id,
        actor_type="staff" if notifier.source == "staff" else notifier.source,
        actor_id=notifier.actor_id,
        channel=notifier.channel,
        reason=notifier.reason,
        details={
            **({"staff_role": notifier.staff_role} if notifier.staff_role else {}),
            "kind": life.kind,
            "life_event_id": life.id,
            "services_ended": [e.service for e in outcome.ended],
            "cards_cancelled": outcome.cards_cancelled,
            "partners_told": outcome.partner_events,
            "fields": sorted(fields or []),
        },
    )
    return outcome


def cancel_cards(resident_id: str, notifier: Notifier, why: str) -> list[LedgerEvent]:
    """Hotlist every card that could still be used (no reason code: cancelled by us)."""
    events = []
    usable = (CARD_ACTIVE, CARD_ORDERED, CARD_PERSONALISED)
    for card in [c for c in dao_get_cards_for_resident(resident_id) if c.status in usable]:
        card.status = CARD_HOTLISTED
        card.hotlist_reason = None
        card.status_changed_at = utcnow()
        events.append(
            LedgerEvent(
                kind=EventKind.CARD_HOTLISTED,
                resident=resident_id,
                service="kent-card",
                actor=notifier.ledger_actor,
                channel=notifier.ledger_channel,
                reason=f"card cancelled: {why}",
                occurred_at=utcnow(),
                evidence=(f"card:{card.id}",),
            )
        )
    return events


def revoke_access(resident_id: str) -> None:
    """No more signing in: sessions ended, every OAuth token revoked."""
    end_all_sessions(resident_id)
    dao_revoke_all_tokens_for(resident_id)


@transactional
def record_death(notifier: Notifier, resident_id: str, died_on: date) -> Outcome:
    resident = dao_lock_resident(resident_id)
    if resident.status == RESIDENT_DECEASED:
        raise AlreadyRecorded("A death is already recorded on this record")
    life = _begin(resident, DEATH, died_on, notifier)
    outcome = Outcome(life)
    events = []
    for state in dao_held_states(resident.id):
        events.append(
            _event(EventKind.REVOKE, notifier, resident.id, state.service, "death notified")
        )
        outcome.ended.append(outbox.EndedEntitlement(state.service, died_on, DEATH))
    card_events = cancel_cards(resident.id, notifier, "death notified")
    outcome.cards_cancelled = len(card_events)
    resident.status = RESIDENT_DECEASED
    resident.closed_at = utcnow()
    revoke_access(resident.id)
    return _finish(
        outcome,
        notifier,
        events + card_events,
        {"occurred_on": died_on.isoformat()},
        ["status", "closed_at"],
    )


@transactional
def record_move_out(notifier: Notifier, resident_id: str, moved_on: date) -> Outcome:
    """Residency-based entitlements end: now if the move has happened, else the day before."""
    resident = dao_lock_resident(resident_id)
    life = _begin(resident, MOVED_OUT, moved_on, notifier)
    outcome = Outcome(life)
    events = []
    last_day = moved_on - timedelta(days=1)
    for state in dao_held_states(resident.id, residency_services()):
        if moved_on <= date.today():
            events.append(
                _event(EventKind.REVOKE, notifier, resident.id, state.service, "moved out of Kent")
            )
            ended_on = moved_on
        else:
            until = min(state.valid_until or last_day, last_day)
            events.append(
                _event(
                    EventKind.RENEW,
                    notifier,
                    resident.id,
                    state.service,
                    "ends on moving out of Kent",
                    valid_from=state.valid_from,
                    valid_until=until,
                )
            )
            ended_on = moved_on
        outcome.ended.append(outbox.EndedEntitlement(state.service, ended_on, MOVED_OUT))
    # The Kent address is no longer where they live: nothing may be granted from it again.
    for name in (FactName.ADDRESS, FactName.LIVES_IN_KENT):
        facts.supersede(resident.id, name, notifier.recorder, "moved out of Kent")
    if outcome.ended:
        catalogue = load_catalogue()
        notices.send(
            resident,
            "moved-out-of-kent",
            moved_on=long_date(moved_on),
            future=moved_on > date.today(),
            services=[catalogue.get(e.service).name for e in outcome.ended],
        )
    return _finish(outcome, notifier, events, {"occurred_on": moved_on.isoformat()})


@transactional
def record_name_change(
    notifier: Notifier, resident_id: str, changed_on: date, given_name: str, family_name: str
) -> Outcome:
    # The same rules as every form; the callers have checked already, this is the guard.
    given_name = validation.GIVEN_NAME.clean_required(given_name)
    family_name = validation.FAMILY_NAME.clean_required(family_name)
    resident = dao_lock_resident(resident_id)
    life = _begin(resident, NAME_CHANGED, changed_on, notifier)
    changed = [
        name
        for name, value in (("given_name", given_name), ("family_name", family_name))
        if getattr(resident, name) != value
    ]
    if not changed:
        raise NoChange("The new name is the same as the name on the record")
    resident.given_name = given_name
    resident.family_name = family_name
    has_card = dao_get_active_card(resident.id) is not None
    notices.send(resident, "name-changed", card_reissue=has_card)
    return _finish(Outcome(life), notifier, [], {"occurred_on": changed_on.isoformat()}, changed)


ADDRESS_FIELDS = ("address_line_1", "address_line_2", "town", "postcode")
ADDRESS_RULES = {
    "address_line_1": validation.ADDRESS_LINE_1,
    "address_line_2": validation.ADDRESS_LINE_2,
    "town": validation.TOWN,
    "postcode": validation.POSTCODE,
}


def clean_address(address: Mapping[str, object]) -> dict[str, str | None]:
    """An address through the shared rules (line 2 optional); raises ``ValidationError``."""
    return {
        name: rule.clean(address.get(name), required=name != "address_line_2")
        for name, rule in ADDRESS_RULES.items()
    }


@transactional
def record_address_change(
    notifier: Notifier, resident_id: str, changed_on: date, address: dict[str, str | None]
) -> Outcome:
    """The address is held once, on the record: every service reads it from there."""
    if not all(address.get(f) for f in ("address_line_1", "town", "postcode")):
        raise LifeEventRefused("Give the first line of the address, the town and the postcode")
    address = clean_address(address)
    resident = dao_lock_resident(resident_id)
    life = _begin(resident, ADDRESS_CHANGED, changed_on, notifier)
    changed = [f for f in ADDRESS_FIELDS if getattr(resident, f) != (address.get(f) or None)]
    if not changed:
        raise NoChange("The new address is the same as the address on the record")
    for name in ADDRESS_FIELDS:
        setattr(resident, name, address.get(name) or None)
    resident.uprn = None
    # The new address is the fact every service decides on from now (decided again at commit).
    facts.record_from_resident(resident, changed, notifier.recorder)
    notices.send(resident, "address-changed")
    return _finish(
        Outcome(life), notifier, [], {"occurred_on": changed_on.isoformat()}, [*changed, "uprn"]
    )
