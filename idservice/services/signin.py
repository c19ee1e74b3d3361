"""Password sign-in with lockout and rate limits, without telling who has an account.

After ``lockout_attempts`` failures for an email address within ``lockout_window`` seconds,
sign-in for that address is refused for ``lockout_duration`` seconds whatever the
password. Failures are keyed by a keyed hash of the address, so unknown addresses lock in
exactly the same way as real ones and the message never differs.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, func, select

from idservice import audit
from idservice.db import db_session
from idservice.models.base import utcnow
from idservice.models.residents import Resident, SignInFailure
from idservice.services.passwords import hash_password, needs_rehash, verify_password
from idservice.services.residents import dao_get_resident_by_email

WRONG_DETAILS = (
    "Enter the email address and password for your Kent account. They do not match our records"
)
LOCKED = (
    "You have tried to sign in too many times. "
    "Wait 15 minutes and try again, or reset your password"
)


@dataclass(frozen=True)
class SignInOutcome:
    resident: Resident | None
    message: str = ""


def account_key(email: str) -> str:
    secret = current_app.config["SECRET_KEY"].encode()
    return hmac.new(secret, email.lower().encode(), hashlib.sha256).hexdigest()


def is_locked(key: str) -> bool:
    settings = current_app.config["KENTCARD"]
    since = utcnow() - timedelta(seconds=settings.lockout_window)
    count = db_session.scalar(
        select(func.count())
        .select_from(SignInFailure)
        .where(SignInFailure.account_key == key, SignInFailure.created_at >= since)
    )
    if (count or 0) < settings.lockout_attempts:
        return False
    latest = db_session.scalar(
        select(func.max(SignInFailure.created_at)).where(SignInFailure.account_key == key)
    )
    if latest is None:
        return False
    if latest.tzinfo is None:
        from datetime import UTC

        latest = latest.replace(tzinfo=UTC)
    return utcnow() - latest < timedelta(seconds=settings.lockout_duration)


def record_failure(key: str) -> None:
    db_session.add(SignInFailure(account_key=key))


def clear_failures(key: str) -> None:
    db_session.execute(delete(SignInFailure).where(SignInFailure.account_key == key))


def check_password_sign_in(email: str, password: str, *, remote_addr: str) -> SignInOutcome:
    """Check an email and password; the caller commits (failures are recorded)."""
    key = account_key(email)
    if is_locked(key):
        return SignInOutcome(None, LOCKED)
    resident = dao_get_resident_by_email(email)
    ok = verify_password(resident.password_hash if resident else None, password)
    if not ok or resident is None or not resident.is_active:
        record_failure(key)
        if resident is not None:
            audit.record(
                "sign_in.failed",
                resident_id=resident.id,
                actor_type="resident",
                actor_id=None,
                channel="web",
            )
        return SignInOutcome(None, WRONG_DETAILS)
    clear_failures(key)
    if resident.password_hash and needs_rehash(resident.password_hash):
        resident.password_hash = hash_password(password)
    audit.record(
        "sign_in.succeeded",
        resident_id=resident.id,
        actor_type="resident",
        actor_id=resident.id,
        channel="web",
        details={"method": "password"},
    )
    return SignInOutcome(resident)
