"""Online tap decisions: the card register's hotlist, then an entitlement for the mode.

Entitlements are read from the ledger's projection (``entitlement_states``), keyed by the
resident the card belongs to, so a replacement card is entitled the moment it is active.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from entitlements.catalogue import load_catalogue
from idservice.cards import dao
from idservice.models.cards import CARD_ACTIVE, CARD_EXPIRED, CARD_HOTLISTED, CARD_REPLACED

#: Which catalogue services open the gate in each reader mode, best first.
MODE_SERVICES: dict[str, tuple[str, ...]] = {
    "library": ("library",),
    "transport": (
        "bus-pass-older",
        "bus-pass-disabled",
        "bus-pass-companion",
        "kent-travel-saver",
        "16-plus-travel-saver",
    ),
}

#: Every ``code`` :func:`decide_rows` answers (the card's own checks add cardio.verify's).
DECISION_CODES = (
    "entitled",
    "unknown_card",
    "not_registered",
    "hotlisted",
    "expired",
    "not_active",
    "entitlement_expired",
    "not_entitled",
)


@dataclass(frozen=True)
class TapDecision:
    """A tap's decision; :data:`idservice.cards.schemas.TAP_DECISION_SCHEMA` sends it."""

    allowed: bool
    code: str
    reason: str
    entitlement: str | None = None
    valid_until: date | None = None


_catalogue = functools.cache(load_catalogue)


def _allowed_words(service: str) -> str:
    if service == "library":
        return "library member"
    try:
        return f"{_catalogue().get(service).name} is valid"
    except KeyError:
        return f"{service} is valid"


def decide(
    card_number: str, mode: str, today: date, public_point: bytes | None = None
) -> TapDecision:
    """The decision for a card already proved genuine (signed by the issuer).

    ``public_point`` is the key the card proved it holds: it must be the key registered
    for this card number, so a second card written with the same number is refused.
    One indexed query: the card row joined to its resident's states for the mode.
    """
    return decide_rows(
        dao.dao_card_with_states(card_number, MODE_SERVICES[mode]), mode, today, public_point
    )


def decide_rows(
    rows: Sequence[Any], mode: str, today: date, public_point: bytes | None = None
) -> TapDecision:
    """:func:`decide` on the rows :func:`dao.dao_card_with_states` returned: rows whose
    ``status`` is None (an outer join that found no card) mean an unknown card."""
    services = MODE_SERVICES[mode]
    rows = [r for r in rows if r.status is not None]
    if not rows:
        return TapDecision(False, "unknown_card", "card is not on the card register")
    card = rows[0]
    if public_point is not None and card.public_key is not None and card.public_key != public_point:
        return TapDecision(False, "not_registered", "card is not the one on the card register")
    if card.status in (CARD_HOTLISTED, CARD_REPLACED):
        if card.hotlist_reason is None and card.status == CARD_HOTLISTED:
            # Cancelled by the council (a death or an erasure), not reported by anyone.
            return TapDecision(False, "hotlisted", "card cancelled")
        return TapDecision(False, "hotlisted", f"card reported {card.hotlist_reason or 'replaced'}")
    if card.status == CARD_EXPIRED or card.expiry < today:
        return TapDecision(False, "expired", "card has expired: the resident can renew it")
    if card.status != CARD_ACTIVE:
        return TapDecision(False, "not_active", "card was never activated: send it to a Gateway")
    held = [r for r in rows if r.service is not None]
    current = [
        r
        for r in held
        if (r.valid_from is None or r.valid_from <= today)
        and (r.valid_until is None or today <= r.valid_until)
    ]
    if current:
        best = min(current, key=lambda r: services.index(r.service))
        return TapDecision(
            True, "entitled", _allowed_words(best.service), best.service, best.valid_until
        )
    if held:
        return TapDecision(False, "entitlement_expired", f"no current {mode} entitlement")
    return TapDecision(False, "not_entitled", f"no {mode} entitlement on this card")
