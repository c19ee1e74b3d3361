"""The resident's own audit trail in plain English ("Your account activity")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from idservice.audit import dao_get_audit_for_resident
from idservice.models.audit import AuditRecord
from idservice.staff.identity import DOCUMENT_TYPES, LEVEL_NAMES
from idservice.staff.permissions import ACTION_PHRASES, Action, role_with_article

UK = ZoneInfo("Europe/London")

FIELD_NAMES = {
    "given_name": "first name",
    "family_name": "last name",
    "date_of_birth": "date of birth",
    "email": "email address",
    "email_verified_at": "email confirmation",
    "phone": "phone number",
    "address_line_1": "address",
    "address_line_2": "address",
    "town": "town or city",
    "postcode": "postcode",
    "uprn": "property reference",
    "language": "language",
    "alternative_formats": "alternative formats",
    "text_relay": "Text Relay preference",
    "password_hash": "password",
    "totp_secret": "authenticator app",
    "status": "account status",
    "closed_at": "account status",
}

ACTIONS = {
    "resident.created": "Account created",
    "resident.viewed": "Record looked at",
    "resident.details_changed": "Details changed",
    "resident.closed": "Account closed",
    "email.confirmed": "Email address confirmed",
    "email.change_requested": "Change of email address requested",
    "password.reset_requested": "Password reset requested",
    "password.reset": "Password reset",
    "sign_in.succeeded": "Signed in",
    "sign_in.failed": "Sign-in attempt failed",
    "step_up.succeeded": "Confirmed it was you",
    "step_up.failed": "Security code not accepted",
    "second_factor.added": "Authenticator app added",
    "second_factor.removed": "Authenticator app removed",
    "passkey.added": "Passkey added",
    "passkey.removed": "Passkey removed",
    "identity.evidence_recorded": "Proof of identity checked",
    "staff.access_refused": "Council staff were stopped from doing something not allowed",
    "audit.viewed": "This record of activity was looked at",
}

CHANNELS = {
    "web": "Online",
    "phone": "By phone",
    "face-to-face": "Face to face",
    "staff-assisted": "With help from council staff",
    "partner": "Through a partner service",
    "system": "Automatically by the Kent account service",
}


@dataclass(frozen=True)
class ActivityItem:
    when: str
    what: str
    detail: str
    who: str
    channel: str


def _when(at: datetime) -> str:
    local = at.astimezone(UK)
    return f"{local:%-d %B %Y} at {local:%-I:%M%p}".replace("AM", "am").replace("PM", "pm")


def _who(entry: AuditRecord, resident_id: str) -> str:
    if entry.actor_type == "resident":
        return "You" if entry.actor_id == resident_id else "Someone who is not signed in"
    if entry.actor_type == "staff":
        role = entry.details.get("staff_role") if isinstance(entry.details, dict) else None
        return role_with_article(str(role)) if role else "Council staff"
    return {
        "client": "A connected service",
        "system": "The Kent account service",
    }.get(entry.actor_type, "The Kent account service")


def _detail(entry: AuditRecord) -> str:
    """What, in words; a member of staff's stated reason is always shown to the resident."""
    text = _what_detail(entry)
    if entry.actor_type == "staff" and entry.reason:
        reason = f"Reason: {entry.reason}"
        return f"{text}. {reason}" if text else reason
    return text


def _what_detail(entry: AuditRecord) -> str:
    details = entry.details if isinstance(entry.details, dict) else {}
    fields = details.get("fields")
    method = details.get("method")
    if entry.action == "identity.evidence_recorded":
        kind = DOCUMENT_TYPES.get(str(details.get("document_type")))
        seen = f"{kind.label} checked" if kind else "Proof of identity checked"
        level = LEVEL_NAMES.get(str(details.get("identity_level")))
        return f"{seen}. Identity now: {level}" if level else seen
    if entry.action == "staff.access_refused":
        try:
            return f"They tried to {ACTION_PHRASES[Action(str(details.get('permission')))]}"
        except ValueError:
            return ""
    if entry.action in {"resident.details_changed", "resident.viewed"} and fields:
        names = list(dict.fromkeys(FIELD_NAMES.get(str(f), "other details") for f in fields))
        return "Your " + _join(names)
    if method and entry.action.startswith(("sign_in", "step_up")):
        return f"Using {method}"
    return ""


def _join(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def describe(entry: AuditRecord, resident_id: str) -> ActivityItem:
    return ActivityItem(
        when=_when(entry.at),
        what=ACTIONS.get(entry.action, "Account updated"),
        detail=_detail(entry),
        who=_who(entry, resident_id),
        channel=CHANNELS.get(entry.channel, entry.channel),
    )


def activity_for(resident_id: str, limit: int = 100) -> list[ActivityItem]:
    return [describe(e, resident_id) for e in dao_get_audit_for_resident(resident_id, limit)]
