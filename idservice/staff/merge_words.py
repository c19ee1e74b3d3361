"""What a merge will do, or did, in words for the staff pages.

The plan (before) and the ``moved`` record of a merge (after) are turned into short
lines per section; nothing here reads or writes anything but names and labels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from entitlements.dates import long_date
from entitlements.facts import FactName
from idservice.services.facts import FACT_LABELS
from idservice.services.merge_plan import CANCEL, DROP, EXTEND, MOVE, MergePlan
from idservice.services.merge_steps import describe_card
from idservice.services.residents import NotFound
from idservice.staff.identity import DOCUMENT_TYPES

SECTIONS = (
    ("services", "Services"),
    ("facts", "Facts"),
    ("cards", "Kent Cards"),
    ("requests", "Requests for services"),
    ("consents", "Connected services"),
    ("evidence", "Proof of identity"),
    ("partners", "Partner services told"),
    ("sign_in", "Signing in"),
)


@dataclass
class Lines:
    """Lines per section (keys of :data:`SECTIONS`); an empty section says "Nothing"."""

    by_section: dict[str, list[str]] = field(default_factory=dict)

    def add(self, section: str, line: str) -> None:
        self.by_section.setdefault(section, []).append(line)

    def sections(self) -> list[tuple[str, list[str]]]:
        return [(title, self.by_section.get(key, [])) for key, title in SECTIONS]


def service_name(code: str) -> str:
    from idservice.services.add_service import service_for

    try:
        return service_for(code).name
    except NotFound:
        return code


def _until(day: date | None) -> str:
    return f"until {long_date(day)}" if day else "with no end date"


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def fact_label(name: str) -> str:
    try:
        return FACT_LABELS[FactName(name)]
    except ValueError:
        return name


def plan_lines(plan: MergePlan) -> Lines:
    lines = Lines()
    for e in plan.entitlements:
        name = service_name(e.service)
        held = "suspended, " if e.status == "suspended" else ""
        if e.action == MOVE:
            lines.add("services", f"{name} ({held}{_until(e.valid_until)}): moves")
        elif e.action == EXTEND:
            lines.add(
                "services",
                f"{name}: both records have it; this one lasts longer "
                f"({_until(e.valid_until)}), so the record kept takes its dates",
            )
        else:
            lines.add(
                "services",
                f"{name}: the record kept has it already ({_until(e.survivor_until)}); "
                "this one ends",
            )
    for f in plan.facts:
        label = FACT_LABELS[f.name]
        lines.add("facts", f"{label}: {'moves' if f.moves else 'stays'} ({f.why})")
    for c in plan.cards:
        if c.action == CANCEL:
            lines.add(
                "cards",
                f"Card ending {c.last4}: cancelled, because the record kept has an active "
                "card (one active card per person)",
            )
        else:
            works = "moves and keeps working" if c.status == "active" else f"moves ({c.status})"
            lines.add("cards", f"Card ending {c.last4}: {works}")
    for r in plan.requests:
        name = service_name(r.service)
        if r.action == MOVE:
            lines.add("requests", f"{name} ({r.status}): moves")
        else:
            lines.add("requests", f"{name} (waiting): withdrawn, because {r.why}")
    for consent in plan.consents:
        what = "moves" if consent.moves else "stays: the record kept already shares with it"
        lines.add("consents", f"{consent.client_name}: {what}")
    for evidence in plan.evidence:
        kind = DOCUMENT_TYPES.get(evidence.document_type)
        label = kind.label if kind else evidence.document_type
        lines.add("evidence", f"{label} ending {evidence.reference_last4}: moves")
    for partner, _client in plan.partners:
        lines.add("partners", f"{partner.display_name}: told the two are now one")
    lines.add(
        "sign_in",
        f"The record merged can no longer be used to sign in: {plan.sessions} signed-in "
        f"{'session ends' if plan.sessions == 1 else 'sessions end'}, {plan.tokens} "
        f"connected-service {'token is' if plan.tokens == 1 else 'tokens are'} withdrawn, "
        f"{plan.passkeys} {'passkey stops' if plan.passkeys == 1 else 'passkeys stop'} "
        "working. The resident signs in with the email address and password of the record kept",
    )
    return lines


def moved_lines(moved: dict[str, Any]) -> Lines:
    """What a merge moved, from its ``moved`` record."""
    lines = Lines()
    for e in moved.get("entitlements", []):
        name = service_name(e["service"])
        words = {
            MOVE: "moved",
            EXTEND: "the longer one kept",
            DROP: "the record kept had it already",
        }.get(e["action"], e["action"])
        lines.add("services", f"{name}: {words}")
    for f in moved.get("facts", []):
        lines.add("facts", f"{fact_label(f['name'])}: moved")
    for card_id in moved.get("cards", []):
        lines.add(
            "cards", f"{describe_card(card_id)[:1].upper()}{describe_card(card_id)[1:]}: moved"
        )
    for card_id in moved.get("cards_cancelled", []):
        lines.add(
            "cards", f"{describe_card(card_id)[:1].upper()}{describe_card(card_id)[1:]}: cancelled"
        )
    requests = len(moved.get("requests", []))
    withdrawn = len(moved.get("requests_withdrawn", []))
    if requests or withdrawn:
        lines.add("requests", f"{requests} moved, {withdrawn} withdrawn")
    if moved.get("consents"):
        lines.add("consents", f"{len(moved['consents'])} moved")
    if moved.get("evidence"):
        lines.add("evidence", f"{len(moved['evidence'])} moved")
    if moved.get("partners"):
        lines.add("partners", f"{len(moved['partners'])} told")
    lines.add(
        "sign_in",
        f"{moved.get('sessions_ended', 0)} sessions ended, "
        f"{moved.get('tokens_revoked', 0)} tokens withdrawn",
    )
    return lines


def undo_lines(undo: dict[str, Any]) -> list[str]:
    """What an undo could not put back exactly, for staff to check."""
    out = []
    for code in undo.get("services_changed", []):
        out.append(
            f"{service_name(code)} on the record kept changed after the merge, so it was left "
            "as it is. Check whether it is still right"
        )
    for code in undo.get("services_ended", []):
        out.append(f"{service_name(code)} would have ended while merged, so it was not given back")
    for card_id in undo.get("cards_not_back", []):
        out.append(
            f"The {describe_card(card_id)} was cancelled by the merge and stays cancelled "
            "(readers may hold it in their list of stopped cards). Issue a new card if needed"
        )
    return out
