"""Ledger events and their canonical bytes.

An event is pseudonymous: the resident is an opaque id, never a name, date of birth or
address, so erasing a resident's personal data leaves every hash intact. The canonical
body (sorted-key JSON, UTF-8, no spaces) is exactly what is hashed and what an outside
party is shown with an inclusion proof.
"""

from __future__ import annotations

import enum
import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

_PSEUDONYM = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
_REFERENCE = re.compile(r"^[A-Za-z0-9_.:/-]{1,128}$")


class EventKind(enum.Enum):
    GRANT = "grant"
    RENEW = "renew"
    SUSPEND = "suspend"
    REVOKE = "revoke"
    EXPIRE = "expire"
    # Card life-cycle events: about the resident's card, not an entitlement, so the
    # projection of entitlements skips them (see :data:`CARD_KINDS`).
    CARD_ISSUED = "card-issued"
    CARD_HOTLISTED = "card-hotlisted"
    # A life event (death, move out of Kent, change of name or address) told to us once:
    # ``service`` names the kind of life event, never its details. Not an entitlement, so
    # the projection skips it like the card kinds; the entitlements it ends have their
    # own ``revoke`` events.
    LIFE_EVENT = "life-event"
    # Two records found to be one person were merged by staff, or the merge was undone.
    # One event on each record: ``service`` says which side it was (``merged-into`` on the
    # record that was merged, ``merged-from`` on the one that survives) and the evidence
    # names the merge (``merge:<id>``) and the other record (``resident:<id>``): both
    # pseudonymous. The entitlements that move have their own ``revoke``/``grant`` (or
    # ``renew``) events citing ``merge:<id>``; the projection skips these markers.
    RECORD_MERGED = "record-merged"
    RECORD_UNMERGED = "record-unmerged"


CARD_KINDS = frozenset({EventKind.CARD_ISSUED, EventKind.CARD_HOTLISTED})
RECORD_KINDS = frozenset({EventKind.RECORD_MERGED, EventKind.RECORD_UNMERGED})
#: Kinds that are on the ledger but are not about an entitlement's state.
NON_ENTITLEMENT_KINDS = CARD_KINDS | RECORD_KINDS | {EventKind.LIFE_EVENT}


class Channel(enum.Enum):
    WEB = "web"
    PHONE = "phone"
    FACE_TO_FACE = "face-to-face"
    STAFF_ASSISTED = "staff-assisted"
    PARTNER = "partner"
    SYSTEM = "system"


class EventError(ValueError):
    """An event that must not go into the ledger (it could never be taken out again)."""


@dataclass(frozen=True)
class LedgerEvent:
    kind: EventKind
    resident: str  # pseudonymous resident id
    service: str
    actor: str  # staff id, "resident" or "system"
    channel: Channel
    reason: str  # a reason code or short phrase, never personal data
    occurred_at: datetime
    evidence: tuple[str, ...] = ()  # references to evidence records, not the evidence
    valid_from: date | None = None
    valid_until: date | None = None

    def __post_init__(self) -> None:
        if not _PSEUDONYM.match(self.resident):
            raise EventError("resident must be a pseudonymous id (8-64 letters/digits/-/_)")
        for reference in (self.service, self.actor, *self.evidence):
            if not _REFERENCE.match(reference):
                raise EventError(f"{reference!r} is not a plain reference")
        if not 0 < len(self.reason) <= 200:
            raise EventError("reason must be 1 to 200 characters")
        if self.occurred_at.tzinfo is None:
            raise EventError("occurred_at must carry a time zone")

    def body(self, seq: int) -> bytes:
        """The canonical bytes of this event at position ``seq``: what is hashed."""
        fields: dict[str, Any] = {
            "seq": seq,
            "kind": self.kind.value,
            "resident": self.resident,
            "service": self.service,
            "actor": self.actor,
            "channel": self.channel.value,
            "reason": self.reason,
            "evidence": list(self.evidence),
            "occurred_at": self.occurred_at.astimezone(UTC).isoformat(timespec="microseconds"),
            "valid_from": self.valid_from.isoformat() if self.valid_from else None,
            "valid_until": self.valid_until.isoformat() if self.valid_until else None,
        }
        return canonical(fields)

    @classmethod
    def from_body(cls, body: bytes) -> tuple[int, LedgerEvent]:
        fields = json.loads(body)
        event = cls(
            kind=EventKind(fields["kind"]),
            resident=fields["resident"],
            service=fields["service"],
            actor=fields["actor"],
            channel=Channel(fields["channel"]),
            reason=fields["reason"],
            occurred_at=datetime.fromisoformat(fields["occurred_at"]),
            evidence=tuple(fields["evidence"]),
            valid_from=date.fromisoformat(fields["valid_from"]) if fields["valid_from"] else None,
            valid_until=(
                date.fromisoformat(fields["valid_until"]) if fields["valid_until"] else None
            ),
        )
        return int(fields["seq"]), event


def canonical(fields: dict[str, Any]) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
