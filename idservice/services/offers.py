"""Services offered to a resident: "You can now get ...".

An offer is made when the engine says the resident can have a service they neither hold
nor have asked for: eligible on what we hold, or meeting every rule with only proof still
to see (``needs_evidence``). Offers are made by the re-evaluation after a fact changes and
by the daily sweep (someone reaching bus pass age today); one notice lists what is new.
An open offer is shown on the resident's account and to staff who open the record; it is
closed when the service is added or asked for (taken), when the resident says "not
interested" (declined: not offered again for :data:`DECLINE_YEARS` year), or when it is no
longer open to them (withdrawn).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select

from entitlements.catalogue import Service
from entitlements.dates import add_years_months
from entitlements.results import Decision, Outcome
from idservice import audit
from idservice.db import db_session
from idservice.models.base import utcnow
from idservice.models.notices import (
    OFFER_DECLINED,
    OFFER_OPEN,
    OFFER_TAKEN,
    OFFER_WITHDRAWN,
    ServiceOffer,
)
from idservice.services.residents import NotFound

#: "Not interested" holds for this long before the service is offered again.
DECLINE_YEARS = 1


def offerable(decision: Decision) -> tuple[bool, bool]:
    """(can be offered, needs evidence first): eligible, or every rule met on what we hold
    with only proof to see. A fact we do not hold at all is asked in the journey instead."""
    if decision.outcome is Outcome.ELIGIBLE:
        return True, False
    needs = decision.needs
    if decision.outcome is Outcome.NEEDS_FACTS and needs and all(n.more_evidence for n in needs):
        return True, True
    return False, False


# --- data access --------------------------------------------------------------------------


def dao_offers(resident_id: str) -> list[ServiceOffer]:
    query = (
        select(ServiceOffer)
        .where(ServiceOffer.resident_id == resident_id)
        .order_by(ServiceOffer.offered_on.desc(), ServiceOffer.id.desc())
    )
    return list(db_session.scalars(query))


def dao_open_offers(resident_id: str) -> list[ServiceOffer]:
    return [o for o in dao_offers(resident_id) if o.status == OFFER_OPEN]


# --- changes (in the caller's transaction) ------------------------------------------------------


@dataclass(frozen=True)
class Refreshed:
    made: list[ServiceOffer]
    withdrawn: list[ServiceOffer]


@dataclass(frozen=True)
class OfferSeen:
    """What :func:`refresh` needs to know of an offer made before; the row itself is loaded
    only to change it."""

    id: int
    service: str
    status: str
    needs_evidence: bool
    declined_until: date | None

    @classmethod
    def of(cls, offer: ServiceOffer) -> OfferSeen:
        return cls(
            offer.id, offer.service, offer.status, offer.needs_evidence, offer.declined_until
        )


def _row(seen: OfferSeen) -> ServiceOffer:
    offer = db_session.get(ServiceOffer, seen.id)
    assert offer is not None, "an offer read in this transaction is gone"
    return offer


def refresh(
    resident_id: str,
    decisions: Mapping[str, Decision],
    services: Mapping[str, Service],
    on: date,
    *,
    not_open: Iterable[str],
    existing: Iterable[OfferSeen] | None = None,
) -> Refreshed:
    """Offer what has become possible and withdraw what no longer is.

    ``decisions`` holds the engine's answer for each service; ``not_open`` the codes that
    cannot be offered whatever the engine says (held, or asked for and waiting);
    ``existing`` the resident's offers when the caller has read them already.
    """
    excluded = set(not_open)
    if existing is None:
        existing = [OfferSeen.of(o) for o in dao_offers(resident_id)]
    seen = list(existing)
    open_offers = {o.service: o for o in seen if o.status == OFFER_OPEN}
    declined = {
        o.service
        for o in seen
        if o.status == OFFER_DECLINED and o.declined_until is not None and o.declined_until > on
    }
    made, withdrawn = [], []
    for code, decision in decisions.items():
        can, needs_evidence = offerable(decision)
        known = open_offers.get(code)
        if known is not None and (not can or code in excluded):
            current = _row(known)
            current.status = OFFER_TAKEN if code in excluded else OFFER_WITHDRAWN
            current.closed_at = utcnow()
            if current.status == OFFER_WITHDRAWN:
                withdrawn.append(current)
            continue
        if known is not None:
            if known.needs_evidence != needs_evidence:
                _row(known).needs_evidence = needs_evidence
            continue
        if can and code not in excluded and code not in declined and code in services:
            offer = ServiceOffer(
                resident_id=resident_id,
                service=code,
                status=OFFER_OPEN,
                offered_on=on,
                needs_evidence=needs_evidence,
            )
            db_session.add(offer)
            made.append(offer)
    if made:
        db_session.flush()
    return Refreshed(made, withdrawn)


def taken(resident_id: str, code: str) -> None:
    """The service was added or asked for: its open offer is closed (caller's transaction)."""
    for offer in dao_open_offers(resident_id):
        if offer.service == code:
            offer.status = OFFER_TAKEN
            offer.closed_at = utcnow()


def decline(
    resident_id: str,
    offer_id: int,
    on: date,
    *,
    actor_type: str,
    actor_id: str | None,
    channel: str,
    reason: str | None = None,
) -> ServiceOffer:
    """ "Not interested": closed, and not offered again for a year (caller's transaction)."""
    offer = db_session.get(ServiceOffer, offer_id)
    if offer is None or offer.resident_id != resident_id or offer.status != OFFER_OPEN:
        raise NotFound("offer")
    offer.status = OFFER_DECLINED
    offer.closed_at = utcnow()
    offer.declined_until = add_years_months(on, years=DECLINE_YEARS)
    audit.record(
        "service.offer_declined",
        resident_id=resident_id,
        actor_type=actor_type,
        actor_id=actor_id,
        channel=channel,
        reason=reason,
        details={"service": offer.service, "offer": offer.id},
    )
    return offer
