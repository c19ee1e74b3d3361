"""What the engine answers: the outcome, the reasons in plain words, what is still needed."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date
from typing import Any

from entitlements.facts import FACT_DESCRIPTIONS, Fact, FactName


class Outcome(enum.Enum):
    ELIGIBLE = "eligible"
    NOT_ELIGIBLE = "not eligible"
    NEEDS_FACTS = "needs facts"


@dataclass(frozen=True)
class Need:
    """A fact we do not hold (or hold with too little evidence), and why it matters."""

    fact: FactName
    why: str
    more_evidence: bool = False  # we hold it, but need to see proof

    def as_dict(self) -> dict[str, Any]:
        return {
            "fact": self.fact.value,
            "description": FACT_DESCRIPTIONS[self.fact],
            "why": self.why,
            "kind": "more evidence" if self.more_evidence else "missing",
        }


@dataclass(frozen=True)
class Check:
    """One condition's verdict: passed (True), failed (False) or cannot tell yet (None).

    ``from_date`` is when a failing condition will start to pass (a birthday, for
    example); ``until`` is the last day a passing one holds.
    """

    passed: bool | None
    reason: str
    used: tuple[Fact, ...] = ()
    needs: tuple[Need, ...] = ()
    from_date: date | None = None
    until: date | None = None


@dataclass(frozen=True)
class Decision:
    """The answer for one service on one day.

    For ELIGIBLE, ``valid_from``/``valid_until`` bound the grant. For NOT_ELIGIBLE,
    ``valid_from`` is the day the resident will become eligible, when that is known.
    """

    service: str
    on: date
    outcome: Outcome
    reasons: tuple[str, ...]
    needs: tuple[Need, ...] = ()
    valid_from: date | None = None
    valid_until: date | None = None
    #: For ELIGIBLE: references of the stored facts the rules relied on (for the ledger).
    #: For NOT_ELIGIBLE: references of the facts the failing rules read.
    evidence: tuple[str, ...] = ()
    #: For NOT_ELIGIBLE: the catalogue tests that failed (the rules that end a grant).
    failed: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "on": self.on.isoformat(),
            "outcome": self.outcome.value,
            "eligible": self.outcome is Outcome.ELIGIBLE,
            "reasons": list(self.reasons),
            "needs": [need.as_dict() for need in self.needs],
            "valid_from": self.valid_from.isoformat() if self.valid_from else None,
            "valid_until": self.valid_until.isoformat() if self.valid_until else None,
        }
