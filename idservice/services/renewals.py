"""Renewing a service the resident holds, as the catalogue says (``[service.renewal]``).

The renewal window opens on the invitation day (the end, or the day details are due, less
``invite_days_before`` or ``KENTCARD_RENEWAL_INVITE_DAYS``; a paused "confirm-details"
service can always be confirmed). Inside it the ordinary add-a-service journey renews
instead of refusing "you already have this" (:mod:`idservice.services.add_service`):

- **confirm-details** (library membership): the resident checks the details we hold are
  still right and confirms; the service carries on (a paused one starts again) and the
  next confirmation is due ``every`` years from today;
- **apply-again** (bus passes, Travel Savers, Blue Badge): the rules are decided for the
  new term's first day (the day after the current end: next school year for a Travel
  Saver), and every fact the catalogue lists in ``recheck`` that was recorded before the
  window opened counts only as what the resident told us, so its proof is seen again
  (the renewal "checks residency again"). Eligible: a ``renew`` event gives the new end;
  proof needed: a request waits for staff, whose approval renews.

How long a grant lasts beyond the engine's answer is here too: a service that lasts "until
the card expires" ends with the active Kent Card (and follows a new card when one is
issued), and a "confirm-details" service is dated to the day its details are due.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, cast

from flask import current_app
from sqlalchemy import Table, select

from entitlements.catalogue import Service, load_catalogue
from entitlements.engine import decide
from entitlements.facts import FACT_DESCRIPTIONS, Fact, FactSet, VerificationLevel
from entitlements.gazetteer import built_in_gazetteer
from entitlements.ledger.events import Channel, EventKind, LedgerEvent
from entitlements.ledger.tables import EntitlementStateRow
from entitlements.results import Decision
from idservice.db import db_session
from idservice.models.cards import CARD_ACTIVE, Card
from idservice.services import facts

if TYPE_CHECKING:
    from idservice.services.add_service import Held

STATES = cast(Table, EntitlementStateRow.__table__)


def invite_days() -> int:
    """The instance's default for services whose catalogue entry does not say."""
    return int(current_app.config["KENTCARD"].renewal_invite_days)


def renewable(held: Held | None, on: date) -> bool:
    return held is not None and held.renewable(on, invite_days())


def renewal_facts(resident_id: str, service: Service, held: Held, extra: Iterable[Fact]) -> FactSet:
    """The resident's facts, with those to check again (recorded before the window opened)
    taken as only declared, so the service asks for their proof afresh."""
    assert service.renewal is not None and held.valid_until is not None
    opens = service.renewal.window_opens(held.valid_until, invite_days())
    recheck = set(service.renewal.recheck)
    kept = []
    for fact in facts.facts_for(resident_id, extra):
        stale = fact.provenance.recorded_at.date() < opens
        if fact.name in recheck and stale and fact.provenance.level > VerificationLevel.DECLARED:
            fact = replace(
                fact, provenance=replace(fact.provenance, level=VerificationLevel.DECLARED)
            )
        kept.append(fact)
    return FactSet.of(kept)


def decide_renewal(
    resident_id: str, service: Service, held: Held, on: date, extra: Iterable[Fact] = ()
) -> Decision:
    """The decision a renewal made on ``on`` gets (module docstring)."""
    assert service.renewal is not None and held.valid_until is not None
    places = built_in_gazetteer()
    if service.renewal.confirms_details:
        return decide(service, facts.facts_for(resident_id, extra), on, places)
    starts = max(on, held.valid_until + timedelta(days=1))
    decision = decide(service, renewal_facts(resident_id, service, held, extra), starts, places)
    again = set(service.renewal.recheck)
    needs = tuple(
        replace(
            need,
            why=f"We need to see proof of {FACT_DESCRIPTIONS[need.fact]} again: renewing "
            "checks it afresh.",
        )
        if need.more_evidence and need.fact in again
        else need
        for need in decision.needs
    )
    return replace(decision, needs=needs)


# --- how long a grant lasts ---------------------------------------------------------------


def dao_active_card_expiry(resident_id: str) -> date | None:
    return db_session.scalar(
        select(Card.expiry).where(Card.resident_id == resident_id, Card.status == CARD_ACTIVE)
    )


def grant_until(service: Service, decision: Decision, resident_id: str) -> date | None:
    """A grant's last day: the engine's (the catalogue's term, cut short by a fact that
    ends sooner); for a service that lasts "until the card expires", the active card's
    expiry (none yet without a card: issuing one dates it); for a "confirm-details"
    service, the day its details are due (then the sweep pauses it unless confirmed)."""
    ends = [decision.valid_until]
    if service.lasts.card:
        ends.append(dao_active_card_expiry(resident_id))
    elif decision.valid_from is not None:
        ends.append(service.details_due(decision.valid_from))
    present = [d for d in ends if d is not None]
    return min(present, default=None)


@functools.cache
def _card_services() -> tuple[str, ...]:
    return tuple(s.code for s in load_catalogue() if s.lasts.card)


def follow_card(
    resident_id: str, expiry: date, actor: str, channel: Channel, at: datetime
) -> list[LedgerEvent]:
    """A new card is active: each held service that lasts "until the card expires" is
    renewed to its expiry (events for the caller to append with the card's own)."""
    rows = db_session.execute(
        select(STATES.c.service, STATES.c.valid_from).where(
            STATES.c.resident == resident_id,
            STATES.c.status.in_(("active", "suspended")),
            STATES.c.service.in_(_card_services()),
        )
    )
    return [
        LedgerEvent(
            kind=EventKind.RENEW,
            resident=resident_id,
            service=row.service,
            actor=actor,
            channel=channel,
            reason="renewed: follows the new Kent Card",
            occurred_at=at,
            valid_from=row.valid_from,
            valid_until=expiry,
        )
        for row in rows
    ]
