"""Authenticator app codes (TOTP, RFC 6238) as an optional second factor.

While setup is under way the new secret is kept only in the person's own session cookie,
sealed (:func:`seal_pending`); it is stored on their record, sealed at rest
(:mod:`idservice.sealed`), once they prove their app works by entering a code, so looking
at the setup page changes nothing. Each accepted code's time-step is remembered, so the
same code (or an older one) cannot be replayed within its window.
"""

from __future__ import annotations

import hmac
import re
import time
from datetime import UTC, datetime
from typing import Protocol

import pyotp

from idservice import audit
from idservice.db import transactional
from idservice.models.base import utcnow
from idservice.models.residents import Resident
from idservice.sealed import SealError, current_box
from idservice.services import mail
from idservice.services.passwords import verify_password
from idservice.services.residents import dao_get_resident_by_id

ISSUER = "Kent account"
#: Codes from the step before and after the current one are accepted (clock drift).
VALID_WINDOW = 1


class HasAuthenticator(Protocol):
    """Anyone with an authenticator app: a resident, or a member of staff."""

    totp_secret: str | None
    totp_last_step: int | None


def normalise_code(text: str) -> str:
    """Accept "123 456" and "123-456" as apps display them; must be 6 digits."""
    from idservice.validation import ValidationError

    compact = re.sub(r"[\s-]", "", text)
    if not re.fullmatch(r"[0-9]{6}", compact):
        raise ValidationError("Enter the 6-digit code from your authenticator app")
    return compact


def provisioning_uri(resident: Resident, secret: str) -> str:
    """The ``otpauth://`` URI an authenticator app can import."""
    label = resident.email or "Kent account"
    return pyotp.TOTP(secret).provisioning_uri(name=label, issuer_name=ISSUER)


def new_secret() -> str:
    return pyotp.random_base32()


def _pending_purpose(owner_id: str) -> str:
    return f"pending authenticator app for {owner_id}"


def seal_pending(owner_id: str, secret: str) -> str:
    """A secret being set up, sealed for the owner's session cookie (signed, not secret)."""
    return current_box().seal(secret, _pending_purpose(owner_id))


def open_pending(owner_id: str, sealed: object) -> str | None:
    """The secret from :func:`seal_pending`, or None when it is missing or not theirs."""
    if not isinstance(sealed, str):
        return None
    try:
        return current_box().open(sealed, _pending_purpose(owner_id))
    except SealError:
        return None


def grouped_secret(secret: str) -> str:
    """The secret in groups of four, easier to type into an app by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def matching_step(secret: str, code: str, now: float | None = None) -> int | None:
    totp = pyotp.TOTP(secret)
    current = totp.timecode(_as_datetime(now))
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _as_datetime(now: float | None) -> datetime:
    return datetime.fromtimestamp(time.time() if now is None else now, UTC)


def verify_and_consume(holder: HasAuthenticator, code: str, now: float | None = None) -> bool:
    """True for a right code not used before; remembers its step. The caller commits."""
    if not holder.totp_secret:
        return False
    step = matching_step(holder.totp_secret, code, now)
    if step is None:
        return False
    if holder.totp_last_step is not None and step <= holder.totp_last_step:
        return False
    holder.totp_last_step = step
    return True


def start_using(holder: HasAuthenticator, secret: str, code: str) -> bool:
    """Store ``secret`` as the holder's app if ``code`` is right for it; the caller commits."""
    step = matching_step(secret, code)
    if step is None:
        return False
    holder.totp_secret = secret
    holder.totp_last_step = step
    return True


@transactional
def confirm_setup(resident_id: str, secret: str, code: str) -> bool:
    """Set the app up with the secret the resident was shown, once a code from it works."""
    resident = dao_get_resident_by_id(resident_id)
    if resident.totp_enabled_at is not None or not start_using(resident, secret, code):
        return False
    resident.totp_enabled_at = utcnow()
    audit.record(
        "second_factor.added",
        resident_id=resident.id,
        actor_type="resident",
        actor_id=resident.id,
        channel="web",
        details={"method": "authenticator app", "fields": ["totp_secret"]},
    )
    if resident.email:
        mail.queue(resident.email, "second_factor_changed", change="added an authenticator app")
    return True


@transactional
def turn_off(resident_id: str, password: str) -> bool:
    """Remove the authenticator app; needs the password so an unattended session cannot."""
    resident = dao_get_resident_by_id(resident_id)
    if not verify_password(resident.password_hash, password):
        return False
    resident.totp_secret = None
    resident.totp_enabled_at = None
    resident.totp_last_step = None
    audit.record(
        "second_factor.removed",
        resident_id=resident.id,
        actor_type="resident",
        actor_id=resident.id,
        channel="web",
        details={"method": "authenticator app", "fields": ["totp_secret"]},
    )
    if resident.email:
        mail.queue(resident.email, "second_factor_changed", change="removed your authenticator app")
    return True
