"""Deciding a verified tap: hotlist first, then an entitlement for the reader's mode.

:class:`DecisionSource` is the seam: :class:`LocalDecisionSource` reads a JSON file in the
reader folder; the online source (``POST /api/v1/taps``, ``kentcard reader --online``) plugs
in behind the same protocol. Signed offline snapshots are not built yet.

File format (``<instance>/reader/decisions.json``)::

    {"format": "kentcard-local-decisions/1",
     "hotlist": {"<card number>": "lost" | "stolen" | "damaged" | "replaced"},
     "entitlements": {"<card number>": {"library": [{"entitlement": "library-membership",
                                                   "valid_until": "2027-03-31"}],
                                        "transport": [{"entitlement": "concessionary-bus-pass"}]}}}

``valid_until`` is optional (inclusive). The file is re-read when it changes, so staff can
update it without restarting the reader.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from cardio.verify import TapEvidence

FORMAT = "kentcard-local-decisions/1"


class Mode(StrEnum):
    LIBRARY = "library"
    TRANSPORT = "transport"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    code: str
    reason: str
    entitlement: str | None = None
    #: Decided without the service: a station with a tap queue keeps the tap
    #: (:mod:`cardio.tapqueue`) for upload before showing the decision.
    offline: bool = False


class DecisionSource(Protocol):
    def decide(
        self, card_number: str, mode: Mode, today: date, evidence: TapEvidence | None = None
    ) -> Decision:
        """``evidence`` is the tap itself, for a source that checks the card again (online)."""
        ...


class DecisionSourceError(ValueError):
    """The decision file is malformed."""


def empty_document() -> dict[str, Any]:
    return {"format": FORMAT, "hotlist": {}, "entitlements": {}}


class LocalDecisionSource:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._document: dict[str, Any] = empty_document()

    def _current(self) -> dict[str, Any]:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return empty_document()
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp != self._stamp:
            document = json.loads(self.path.read_text())
            if not isinstance(document, dict) or document.get("format") != FORMAT:
                raise DecisionSourceError(f"{self.path} is not a {FORMAT} document")
            self._document, self._stamp = document, stamp
        return self._document

    def decide(
        self, card_number: str, mode: Mode, today: date, evidence: TapEvidence | None = None
    ) -> Decision:
        document = self._current()
        hotlisted = document.get("hotlist", {}).get(card_number)
        if hotlisted:
            return Decision(False, "hotlisted", f"card is hotlisted ({hotlisted}): keep the card")
        grants = document.get("entitlements", {}).get(card_number, {}).get(str(mode), [])
        expired: str | None = None
        for grant in grants:
            name = str(grant.get("entitlement", ""))
            until = grant.get("valid_until")
            if until is not None and date.fromisoformat(until) < today:
                expired = name
                continue
            return Decision(True, "entitled", f"{name.replace('-', ' ')} is valid", name)
        if expired is not None:
            return Decision(
                False, "entitlement_expired", f"{expired.replace('-', ' ')} has expired", expired
            )
        return Decision(False, "not_entitled", f"no {mode} entitlement on this card")

    # -- editing (for staff tools and tests) ---------------------------------------------

    def _write(self, document: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, self.path)

    def grant(
        self, card_number: str, mode: Mode, entitlement: str, valid_until: date | None = None
    ) -> None:
        document = json.loads(json.dumps(self._current()))
        grant: dict[str, Any] = {"entitlement": entitlement}
        if valid_until is not None:
            grant["valid_until"] = valid_until.isoformat()
        modes = document.setdefault("entitlements", {}).setdefault(card_number, {})
        modes.setdefault(str(mode), []).append(grant)
        self._write(document)

    def hotlist(self, card_number: str, why: str) -> None:
        document = json.loads(json.dumps(self._current()))
        document.setdefault("hotlist", {})[card_number] = why
        self._write(document)
