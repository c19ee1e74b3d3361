"""Undoing an email change from the old address, for 7 days.

Whoever changes a resident's email address can then reset the password through the new
address and lock the resident out. So when a change is confirmed, the old address gets a
notice with a link that puts it back. The link is a signed token (no table needed) bound to
the resident, the old address (sealed: links end up in logs) and the change itself: the new
address and the moment the change was confirmed. It is honoured only while the account
still has exactly that address from exactly that change, so it works once, stops working
after any later change, and expires after 7 days.

Undoing restores the old address, signs the account out everywhere (browser sessions and
tokens held by services), removes the password, the authenticator app and every passkey
(whoever made the change may have set or added them, even just before it), and sends a
password reset link to the restored address. The resident adds their second factors again
once they have chosen a new password.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, update

from idservice import audit
from idservice.auth.sessions import end_all_sessions, end_session
from idservice.db import db_session, transactional
from idservice.models.base import utcnow
from idservice.models.oauth import OAuthToken
from idservice.models.residents import PasskeyCredential, Resident
from idservice.services import mail, tokens
from idservice.services.residents import dao_get_resident_by_email


@dataclass(frozen=True)
class PendingUndo:
    """A valid undo link: whose account, and the address it would restore."""

    resident: Resident
    old_email: str


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _changed_at(resident: Resident) -> int:
    """The microsecond the current address was confirmed: different for every change.

    Both databases keep microseconds, and integer arithmetic keeps them exact.
    """
    if resident.email_verified_at is None:
        return 0
    return (resident.email_verified_at - _EPOCH) // timedelta(microseconds=1)


def queue_notice(resident: Resident, old_email: str) -> None:
    """Tell the old address about a confirmed change, with the undo link; caller commits.

    Call after ``resident.email`` and ``email_verified_at`` hold the new values.
    """
    token = tokens.make(
        tokens.UNDO_EMAIL_CHANGE,
        {
            "r": resident.id,
            "o": tokens.seal(old_email),
            "n": tokens.fingerprint(resident.email),
            "t": _changed_at(resident),
        },
    )
    mail.queue(
        old_email,
        "email_changed",
        undo=mail.external_url("accounts.undo_email_change", token=token),
    )


def pending_undo(token: str) -> PendingUndo | None:
    """What the link would undo, while it is in date and nothing has changed since."""
    payload = tokens.load(tokens.UNDO_EMAIL_CHANGE, token)
    if payload is None:
        return None
    resident = db_session.get(Resident, str(payload.get("r")))
    old_email = tokens.unseal(str(payload.get("o", "")))
    if resident is None or not resident.is_active or old_email is None or not resident.email:
        return None
    if payload.get("n") != tokens.fingerprint(resident.email):
        return None
    if payload.get("t") != _changed_at(resident):
        return None
    return PendingUndo(resident, old_email)


class AddressTaken(Exception):
    """Another account has taken the old address since; the resident must call us."""


@transactional
def undo_email_change(token: str) -> bool:
    """Put the old address back and lock out whoever changed it; False for a bad link."""
    pending = pending_undo(token)
    if pending is None:
        return False
    resident = pending.resident
    if dao_get_resident_by_email(pending.old_email) is not None:
        raise AddressTaken
    fields = ["email", "email_verified_at", "password_hash"]
    resident.email = pending.old_email
    resident.email_verified_at = utcnow()  # the link went to this address
    resident.password_hash = None
    if resident.totp_secret is not None or resident.totp_enabled_at is not None:
        resident.totp_secret = None
        resident.totp_enabled_at = None
        resident.totp_last_step = None
        fields.append("totp_secret")
    removed = db_session.execute(
        delete(PasskeyCredential).where(PasskeyCredential.resident_id == resident.id)
    )
    if getattr(removed, "rowcount", 0):
        fields.append("passkeys")
    end_all_sessions(resident.id)
    end_session()
    db_session.execute(
        update(OAuthToken)
        .where(OAuthToken.resident_id == resident.id, OAuthToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    audit.record(
        "email.change_undone",
        resident_id=resident.id,
        actor_type="resident",
        actor_id=resident.id,
        channel="web",
        details={"fields": fields},
    )
    reset = tokens.make(
        tokens.RESET_PASSWORD, {"r": resident.id, "f": tokens.fingerprint(resident.password_hash)}
    )
    mail.queue(
        pending.old_email,
        "reset_password",
        link=mail.external_url("accounts.reset_password", token=reset),
    )
    audit.record(
        "password.reset_requested",
        resident_id=resident.id,
        actor_type="resident",
        actor_id=resident.id,
        channel="web",
    )
    return True
