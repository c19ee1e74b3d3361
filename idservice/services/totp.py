"""Authenticator app codes (TOTP, RFC 6238) as an optional second factor.

A secret is stored when setup starts and only counts once the resident proves their app
works by entering a code. Each accepted code's time-step is remembered, so the same code
(or an older one) cannot be replayed within its window.
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


def provisioning_uri(resident: Resident) -> str:
    """The ``otpauth://`` URI an authenticator app can import."""
    assert resident.totp_secret is not None
    label = resident.email or "Kent account"
    return pyotp.TOTP(resident.totp_secret).provisioning_uri(name=label, issuer_name=ISSUER)


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


@transactional
def begin_setup(resident_id: str) -> Resident:
    """Give the resident a secret to put in their app (kept if they reload the page)."""
    resident = dao_get_resident_by_id(resident_id)
    if resident.totp_enabled_at is None and not resident.totp_secret:
        resident.totp_secret = pyotp.random_base32()
        resident.totp_last_step = None
    return resident


@transactional
def confirm_setup(resident_id: str, code: str) -> bool:
    resident = dao_get_resident_by_id(resident_id)
    if resident.totp_enabled_at is not None or not verify_and_consume(resident, code):
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
