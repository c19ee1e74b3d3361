"""Changes a resident makes to their own account: details, preferences, email address,
password, and closing the account.

Every change is audited with the names of the fields that changed (never their values)
and the channel it came through; a change that changes nothing is not recorded.
"""

from __future__ import annotations

import logging
from typing import Any

from idservice import audit
from idservice.auth.sessions import current_session, end_all_sessions, end_session, start_session
from idservice.db import db_session, transactional
from idservice.models.base import utcnow
from idservice.models.residents import ALTERNATIVE_FORMATS, LANGUAGES, RESIDENT_CLOSED, Resident
from idservice.services import email_undo, facts, mail, tokens
from idservice.services.passwords import hash_password, verify_password
from idservice.services.residents import dao_get_resident_by_email, dao_get_resident_by_id

log = logging.getLogger(__name__)

#: What a resident may change about themselves with :func:`update_details`.
EDITABLE = frozenset(
    {
        "given_name",
        "family_name",
        "date_of_birth",
        "address_line_1",
        "address_line_2",
        "town",
        "postcode",
        "phone",
        "language",
        "alternative_formats",
        "text_relay",
    }
)


def _check(field: str, value: Any) -> None:
    if field == "language" and value not in LANGUAGES:
        raise ValueError("unknown language")
    if field == "alternative_formats" and any(v not in ALTERNATIVE_FORMATS for v in value):
        raise ValueError("unknown alternative format")


@transactional
def update_details(
    resident_id: str,
    changes: dict[str, Any],
    *,
    actor_type: str = "resident",
    actor_id: str | None = None,
    channel: str = "web",
    reason: str | None = None,
    extra_details: dict[str, Any] | None = None,
) -> list[str]:
    """Apply ``changes``; the names of the fields that really changed.

    Staff acting for a resident pass their reason and role (``extra_details``, never
    personal values) so the resident's activity page can say who helped and why.
    """
    unknown = set(changes) - EDITABLE
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    resident = dao_get_resident_by_id(resident_id)
    changed = []
    for field, value in changes.items():
        _check(field, value)
        if field == "alternative_formats":
            value = sorted(value)
            if sorted(resident.alternative_formats or []) == value:
                continue
        elif getattr(resident, field) == value:
            continue
        setattr(resident, field, value)
        changed.append(field)
    if changed:
        if "postcode" in changed or "address_line_1" in changed:
            resident.uprn = None  # the old property reference no longer applies
        audit.record(
            "resident.details_changed",
            resident_id=resident.id,
            actor_type=actor_type,
            actor_id=actor_id if actor_id is not None else resident.id,
            channel=channel,
            details={**(extra_details or {}), "fields": sorted(changed)},
            reason=reason,
        )
        recorder = facts.Recorder(
            actor_type,
            actor_id if actor_id is not None else resident.id,
            channel,
            staff_role=(extra_details or {}).get("staff_role"),
            reason=reason,
        )
        facts.record_from_resident(resident, changed, recorder)
        if "phone" in changed and resident.email:
            mail.queue(resident.email, "phone_changed")
    return changed


@transactional
def request_email_change(resident_id: str, new_email: str) -> None:
    """Send a confirmation link to ``new_email``; nothing changes until it is followed.

    If another account has that address its owner is told instead, and the resident sees
    the same page, so this cannot be used to find out who has an account.
    """
    resident = dao_get_resident_by_id(resident_id)
    if dao_get_resident_by_email(new_email) is not None:
        mail.queue(new_email, "email_in_use")
        return
    token = tokens.make(
        tokens.CHANGE_EMAIL,
        {"r": resident.id, "f": tokens.fingerprint(resident.email), "n": tokens.seal(new_email)},
    )
    mail.queue(
        new_email,
        "change_email",
        link=mail.external_url("accounts.confirm_email_change", token=token),
    )
    if resident.email:
        mail.queue(resident.email, "email_change_requested")
    audit.record(
        "email.change_requested",
        resident_id=resident.id,
        actor_type="resident",
        actor_id=resident.id,
        channel="web",
        details={"fields": ["email"]},
    )


@transactional
def confirm_email_change(token: str) -> bool:
    payload = tokens.load(tokens.CHANGE_EMAIL, token)
    if payload is None:
        return False
    resident = db_session.get(Resident, str(payload.get("r")))
    new_email = tokens.unseal(str(payload.get("n", "")))
    if resident is None or not resident.is_active or new_email is None:
        return False
    if payload.get("f") != tokens.fingerprint(resident.email):
        return False
    if dao_get_resident_by_email(new_email) is not None:
        return False
    old_email = resident.email
    resident.email = new_email
    resident.email_verified_at = utcnow()
    audit.record(
        "resident.details_changed",
        resident_id=resident.id,
        actor_type="resident",
        actor_id=resident.id,
        channel="web",
        details={"fields": ["email", "email_verified_at"]},
    )
    if old_email:
        email_undo.queue_notice(resident, old_email)
    return True


@transactional
def change_password(resident_id: str, current: str, new: str) -> bool:
    """Check the current password and set a new one; other browsers are signed out."""
    resident = dao_get_resident_by_id(resident_id)
    if not verify_password(resident.password_hash, current):
        return False
    resident.password_hash = hash_password(new)
    session_record = current_session()
    amr = list(session_record.amr) if session_record else ["pwd"]
    end_all_sessions(resident.id)
    start_session(resident, amr)
    audit.record(
        "resident.details_changed",
        resident_id=resident.id,
        actor_type="resident",
        actor_id=resident.id,
        channel="web",
        details={"fields": ["password_hash"]},
    )
    if resident.email:
        mail.queue(
            resident.email, "password_changed", reset=mail.external_url("accounts.forgot_password")
        )
    return True


@transactional
def close_account(resident_id: str, password: str) -> bool:
    """Close the account after checking the password; ends every session."""
    resident = dao_get_resident_by_id(resident_id)
    if not verify_password(resident.password_hash, password):
        return False
    resident.status = RESIDENT_CLOSED
    resident.closed_at = utcnow()
    end_all_sessions(resident.id)
    end_session()
    audit.record(
        "resident.closed",
        resident_id=resident.id,
        actor_type="resident",
        actor_id=resident.id,
        channel="web",
        details={"fields": ["status", "closed_at"]},
    )
    if resident.email:
        mail.queue(resident.email, "account_closed")
    log.info("resident %s closed their account", resident.id)
    return True
