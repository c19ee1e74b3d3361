"""Deciding a verified tap: hotlist first, then an entitlement for the reader's mode.

:class:`DecisionSource` is the seam the station decides through. Two sources plug in
behind it: the signed offline list (:class:`cardio.offline.SnapshotDecisionSource`, the
reader's own list from ``GET /api/v1/snapshots/{mode}`` or ``kentcard snapshots build``)
and the online service (:class:`cardio.online.OnlineDecisionSource`, ``POST
/api/v1/taps``). The unsigned, hand-edited ``decisions.json`` that came before them is
gone: a reader decides offline only from a list the issuer signed (docs/readers.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from cardio.verify import TapEvidence


class Mode(StrEnum):
    LIBRARY = "library"
    TRANSPORT = "transport"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    code: str
    reason: str
    entitlement: str | None = None
    #: Decided under the offline policy for a list too old (or none): check it later.
    flagged: bool = False
    #: Decided without the service: a station with a tap queue keeps the tap
    #: (:mod:`cardio.tapqueue`) for upload before showing the decision.
    offline: bool = False


class DecisionSource(Protocol):
    def decide(
        self,
        card_number: str,
        mode: Mode,
        today: date,
        evidence: TapEvidence | None = None,
        public_point: bytes | None = None,
    ) -> Decision:
        """``evidence`` is the tap itself, for a source that checks the card again
        (online); ``public_point`` the card's public key from its verified certificate,
        which the offline list knows cards by."""
        ...
