"""The resident's own audit trail in plain English ("Your account activity")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from entitlements.facts import FactName
from idservice.audit import dao_get_audit_for_resident
from idservice.models.audit import AuditRecord
from idservice.services import add_service
from idservice.services.evidence_types import EVIDENCE_TYPES
from idservice.services.facts import FACT_LABELS, SOURCE_WORDS
from idservice.services.residents import NotFound
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
    "email.change_undone": "Change of email address undone from the old address",
    "password.reset_requested": "Password reset requested",
    "password.reset": "Password reset",
    "sign_in.succeeded": "Signed in",
    "sign_in.failed": "Sign-in attempt failed",
    "step_up.succeeded": "Confirmed it was you",
    "step_up.failed": "Security code not accepted",
    "reauth.failed": "Password not accepted when confirming it was you",
    "second_factor.added": "Authenticator app added",
    "second_factor.removed": "Authenticator app removed",
    "passkey.added": "Passkey added",
    "passkey.removed": "Passkey removed",
    "identity.evidence_recorded": "Proof of identity checked",
    "staff.access_refused": "Council staff were stopped from doing something not allowed",
    "audit.viewed": "This record of activity was looked at",
    "card.ordered": "Kent Card ordered",
    "card.issued": "Kent Card issued",
    "card.hotlisted": "Kent Card reported",
    "card.spoiled": "Kent Card spoiled while it was being made",
    "card.pin_unblocked": "Kent Card PIN unblocked",
    "life_event.recorded": "A change was told to us once",
    "resident.data_downloaded": "A copy of your data was downloaded",
    "resident.erased": "Your personal data was erased",
    "partner.entitlement_checked": "A service checked whether you have an entitlement",
    "card.production_file": "Your name and Kent Card details were sent to the card printer",
    "fact.recorded": "Information about you recorded",
    "fact.ended": "Information about you no longer used",
    "service.granted": "Service added",
    "service.not_eligible": "Service applied for: not eligible",
    "service.requested": "Service requested",
    "service.request_approved": "Service request approved",
    "service.request_refused": "Service request refused",
    "service.request_withdrawn": "Service request withdrawn",
    "service.request_closed": "Service request closed: no longer eligible",
    "service.offer_declined": "Service offered: not interested",
    "entitlements.reevaluated": "Your services were checked again after a change",
    "notice.queued": "We wrote to you",
    "duplicate.suspected": "A new record looked like it might be yours: council staff will check",
    "duplicate.not_same": "Checked against a record with a similar name: a different person",
    "service.renewed": "Service renewed",
}

#: Life events (idservice.services.life_events) in words for the activity page.
LIFE_EVENT_WORDS = {
    "death": "A death was recorded. Services ended and the Kent Card was stopped",
    "moved-out-of-kent": "A move out of Kent was recorded",
    "name-changed": "A change of name was recorded",
    "address-changed": "A change of address was recorded",
}

#: How a card was reported, for "Kent Card reported lost".
HOTLIST_WORDS = {"lost": "lost", "stolen": "stolen", "damaged": "damaged"}
CARD_SIGN_IN = "Kent Card and PIN"

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
    details = entry.details if isinstance(entry.details, dict) else {}
    if entry.actor_type == "client" and details.get("client_name"):
        return str(details["client_name"])
    if entry.actor_type == "staff":
        role = entry.details.get("staff_role") if isinstance(entry.details, dict) else None
        return role_with_article(str(role)) if role else "Council staff"
    return {
        "client": "A connected service",
        "system": "The Kent account service",
        "registrar": "The register office",
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
    if entry.action == "life_event.recorded":
        text = LIFE_EVENT_WORDS.get(str(details.get("kind")), "A change was recorded")
        told = details.get("partners_told")
        return f"{text}. Partner services told: {told}" if told else text
    if entry.action == "partner.entitlement_checked":
        from idservice.partner_api.history import ANSWERS, service_name

        answer = ANSWERS.get(str(details.get("result")), "")
        asked = f"About: {service_name(str(details.get('service')))}"
        return f"{asked}. Told: {answer[0].lower() + answer[1:]}" if answer else asked
    if entry.action.startswith(("fact.", "service.")):
        return _fact_or_service_detail(entry.action, details)
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


def _fact_or_service_detail(action: str, details: dict[str, object]) -> str:
    """Which fact or service, and how the fact was known; never the value itself."""
    if action.startswith("fact."):
        try:
            label = FACT_LABELS[FactName(str(details.get("fact")))]
        except ValueError:
            return ""
        if action == "fact.ended":
            return f"{label}: it was about your old address"
        source = SOURCE_WORDS.get(str(details.get("source")), "")
        kind = EVIDENCE_TYPES.get(str(details.get("evidence_type")))
        seen = f" ({kind.label})" if kind else ""
        return f"{label}: {source}{seen}" if source else label
    try:
        name = add_service.service_for(str(details.get("service"))).name
    except NotFound:
        return ""
    return name


def _join(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def _what(entry: AuditRecord) -> str:
    details = entry.details if isinstance(entry.details, dict) else {}
    if entry.action == "card.hotlisted":
        why = HOTLIST_WORDS.get(str(details.get("hotlist_reason")))
        return f"Kent Card reported {why}" if why else ACTIONS[entry.action]
    if entry.action == "card.issued" and details.get("replaces"):
        return "Replacement Kent Card issued"
    if details.get("method") == CARD_SIGN_IN and entry.action == "sign_in.succeeded":
        return "Signed in with your Kent Card"
    if details.get("method") == CARD_SIGN_IN and entry.action == "sign_in.failed":
        return "Kent Card sign-in refused"
    return ACTIONS.get(entry.action, "Account updated")


def describe(entry: AuditRecord, resident_id: str) -> ActivityItem:
    return ActivityItem(
        when=_when(entry.at),
        what=_what(entry),
        detail=_detail(entry),
        who=_who(entry, resident_id),
        channel=CHANNELS.get(entry.channel, entry.channel),
    )


def activity_for(resident_id: str, limit: int = 100) -> list[ActivityItem]:
    return [describe(e, resident_id) for e in dao_get_audit_for_resident(resident_id, limit)]
