"""Current entitlement state as a pure fold over events.

Appending and rebuilding use this same function, so ``rebuild`` reproduces the state the
appends left behind exactly, and any difference means the table was changed outside it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date

from entitlements.ledger.events import NON_ENTITLEMENT_KINDS, EventKind, LedgerEvent

_STATUS = {
    EventKind.GRANT: "active",
    EventKind.RENEW: "active",
    EventKind.SUSPEND: "suspended",
    EventKind.REVOKE: "revoked",
    EventKind.EXPIRE: "expired",
}


@dataclass(frozen=True)
class EntitlementState:
    resident: str
    service: str
    status: str
    valid_from: date | None
    valid_until: date | None
    last_seq: int


Key = tuple[str, str]
DATED_KINDS = frozenset({EventKind.GRANT, EventKind.RENEW})  # the kinds that set dates


def apply(state: EntitlementState | None, seq: int, event: LedgerEvent) -> EntitlementState:
    """The state after ``event``; grants and renewals set the dates, the rest keep them."""
    status = _STATUS[event.kind]
    if event.kind in DATED_KINDS or state is None:
        return EntitlementState(
            event.resident, event.service, status, event.valid_from, event.valid_until, seq
        )
    return replace(state, status=status, last_seq=seq)


def fold(
    events: Iterable[tuple[int, LedgerEvent]],
    start: Mapping[Key, EntitlementState] | None = None,
) -> dict[Key, EntitlementState]:
    states = dict(start or {})
    for seq, event in events:
        if event.kind in NON_ENTITLEMENT_KINDS:  # cards, life events, merges: not entitlements
            continue
        key = (event.resident, event.service)
        states[key] = apply(states.get(key), seq, event)
    return states
