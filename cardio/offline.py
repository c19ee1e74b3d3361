"""Deciding a tap from the offline list, with a per-mode policy for a list that is too old.

The policy is data (``kentcard-offline-policy/1``, :data:`DEFAULT_POLICY`; a reader may
keep its own in ``<reader folder>/offline-policy.json``)::

    {"format": "kentcard-offline-policy/1",
     "modes": {"transport": {"max_age_hours": 72, "when_too_old": "allow", "flag": true,
                             "honour_hotlist": true,
                             "words": "allowed and flagged for checking"},
               "library": {"max_age_hours": 168, "when_too_old": "deny", "flag": false,
                           "honour_hotlist": true,
                           "words": "loans refused until the reader has a fresh list"}}}

``when_too_old``: ``allow`` (every card the old list does not hotlist, as bus operators
do), ``deny`` (every card) or ``list`` (decide from the old list anyway). ``flag`` marks
those taps for follow-up; ``honour_hotlist`` still refuses cards the old list hotlists. A
reader with no list at all follows the same rule, with the code ``no_offline_list``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cardio.decision import Decision, Mode
from cardio.snapshot import OfflineList, SnapshotStore, utcnow
from cardio.snapshot_format import EPOCH, HOTLIST_BASE, HOTLIST_REASONS, fingerprint

if TYPE_CHECKING:
    from cardio.verify import TapEvidence

POLICY_FORMAT = "kentcard-offline-policy/1"
POLICY_FILE = "offline-policy.json"
WHEN_TOO_OLD = ("allow", "deny", "list")
DEFAULT_POLICY: dict[str, Any] = {
    "format": POLICY_FORMAT,
    "modes": {
        "transport": {
            "max_age_hours": 72,
            "when_too_old": "allow",
            "flag": True,
            "honour_hotlist": True,
            "words": "allowed and flagged for checking",
        },
        "library": {
            "max_age_hours": 168,
            "when_too_old": "deny",
            "flag": False,
            "honour_hotlist": True,
            "words": "loans refused until the reader has a fresh list",
        },
    },
}
TOO_OLD, NO_LIST = "offline_list_too_old", "no_offline_list"
#: Every code :func:`decide_offline` answers.
OFFLINE_CODES = ("entitled", "hotlisted", "entitlement_expired", "not_entitled", TOO_OLD, NO_LIST)


class PolicyError(ValueError):
    """The offline policy document is malformed."""


@dataclass(frozen=True)
class ModePolicy:
    max_age_hours: float
    when_too_old: str
    flag: bool
    honour_hotlist: bool
    words: str


@dataclass(frozen=True)
class OfflinePolicy:
    modes: dict[str, ModePolicy]

    def for_mode(self, mode: str) -> ModePolicy:
        try:
            return self.modes[mode]
        except KeyError:
            raise PolicyError(f"the offline policy has no {mode} mode") from None

    @classmethod
    def from_json(cls, document: Any) -> OfflinePolicy:
        if not isinstance(document, dict) or document.get("format") != POLICY_FORMAT:
            raise PolicyError(f"not a {POLICY_FORMAT} document")
        modes = document.get("modes")
        if not isinstance(modes, dict) or not modes:
            raise PolicyError("modes must be an object naming each reader mode")
        parsed = {}
        for mode, entry in modes.items():
            try:
                hours = entry["max_age_hours"]
                when = entry["when_too_old"]
                if isinstance(hours, bool) or not isinstance(hours, int | float) or hours <= 0:
                    raise PolicyError(f"{mode}: max_age_hours must be a positive number")
                if when not in WHEN_TOO_OLD:
                    raise PolicyError(f"{mode}: when_too_old must be one of {WHEN_TOO_OLD}")
                parsed[mode] = ModePolicy(
                    float(hours),
                    when,
                    bool(entry.get("flag", False)),
                    bool(entry.get("honour_hotlist", True)),
                    str(entry.get("words", "")),
                )
            except (KeyError, TypeError) as exc:
                raise PolicyError(f"{mode}: {exc} is missing or wrong") from None
        return cls(parsed)

    @classmethod
    def load(cls, folder: Path) -> OfflinePolicy:
        """``<folder>/offline-policy.json`` if the reader has one, else the default."""
        path = folder / POLICY_FILE
        try:
            return cls.from_json(json.loads(path.read_text()))
        except FileNotFoundError:
            return cls.from_json(DEFAULT_POLICY)
        except json.JSONDecodeError as exc:
            raise PolicyError(f"{path} is not JSON: {exc}") from None


def _age_words(seconds: float) -> str:
    hours = seconds / 3600
    return f"{hours / 24:.1f} days old" if hours >= 48 else f"{hours:.0f} hours old"


def _hotlisted(code: int) -> Decision:
    reason = HOTLIST_REASONS[code]
    words = "card cancelled" if reason == "cancelled" else f"card reported {reason}"
    return Decision(False, "hotlisted", f"{words}: keep the card")


def decide_from_list(held: OfflineList, fp: bytes, mode: str, today: date) -> Decision:
    """Hotlist first, then the best current entitlement (services are listed best first)."""
    records = held.lookup(fp)
    for record in records:
        if record.code >= HOTLIST_BASE:
            return _hotlisted(record.code)
    day = today.toordinal() - EPOCH.toordinal()
    current = [r for r in records if r.first <= day <= r.last]
    if current:
        service = held.services[min(r.code for r in current)]
        return Decision(True, "entitled", f"{service.name} is valid", service.code)
    if records:
        return Decision(False, "entitlement_expired", f"no current {mode} entitlement")
    return Decision(False, "not_entitled", f"no {mode} entitlement on this card")


def decide_offline(
    held: OfflineList | None,
    fp: bytes,
    mode: str,
    today: date,
    now: datetime,
    policy: ModePolicy,
) -> Decision:
    """The decision from the list held, or the policy's when it is missing or too old."""
    if held is not None and held.age_seconds(now) <= policy.max_age_hours * 3600:
        return decide_from_list(held, fp, mode, today)
    if held is None:
        code, why = NO_LIST, "no offline list"
    else:
        code, why = TOO_OLD, f"offline list too old ({_age_words(held.age_seconds(now))})"
    if held is not None and policy.honour_hotlist:
        for record in held.lookup(fp):
            if record.code >= HOTLIST_BASE:
                return _hotlisted(record.code)
    words = f"{why}: {policy.words}" if policy.words else why
    if policy.when_too_old == "allow":
        return Decision(True, code, words, flagged=policy.flag)
    if policy.when_too_old == "list" and held is not None:
        listed = decide_from_list(held, fp, mode, today)
        return Decision(
            listed.allowed,
            listed.code,
            f"{listed.reason} ({why})",
            listed.entitlement,
            flagged=policy.flag,
        )
    return Decision(False, code, words, flagged=policy.flag)


class SnapshotDecisionSource:
    """A :class:`~cardio.decision.DecisionSource` over a reader's :class:`SnapshotStore`.

    Reads ``store.current`` on every tap, so a sync that accepts a new list (in another
    thread) is used from the next tap on.
    """

    def __init__(
        self,
        store: SnapshotStore,
        policy: OfflinePolicy,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.policy = policy
        self.now = now

    def decide(
        self,
        card_number: str,
        mode: Mode,
        today: date,
        evidence: TapEvidence | None = None,
        public_point: bytes | None = None,
    ) -> Decision:
        if public_point is None and evidence is not None:
            public_point = _point_from(evidence)
        if public_point is None:
            unknown = Decision(False, "not_entitled", "the card's key is unknown: tap again")
            return replace(unknown, offline=True)
        self.store.reload_if_changed()
        held = self.store.current if self.store.mode == str(mode) else None
        decided = decide_offline(
            held,
            fingerprint(public_point),
            str(mode),
            today,
            self.now(),
            self.policy.for_mode(str(mode)),
        )
        return replace(decided, offline=True)  # the service is told of it at the next sync


def _point_from(evidence: TapEvidence) -> bytes | None:
    """The card's public key from its SELECT answer (its certificate)."""
    from cardio import certificate
    from cardio.errors import MalformedResponseError
    from cardio.session import parse_select_answer

    try:
        answer = parse_select_answer(evidence.select_answer)
        return certificate.decode(answer.certificate or b"").public_point
    except (ValueError, MalformedResponseError):
        return None
