"""Sign-in with lockout, without telling who has an account.

After ``lockout_attempts`` failures for an email address within ``lockout_window`` seconds,
sign-in for that address is refused for ``lockout_duration`` seconds whatever the
password. Failures are keyed by a keyed hash of the address, so unknown addresses lock in
exactly the same way as real ones and the message never differs. Wrong one-time codes
count as failures too, and failures are only cleared once the whole sign-in (password and
code) succeeds, so knowing the password does not buy unlimited guesses at the code.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, timedelta

from flask import current_app
from sqlalchemy import delete, func, select

from idservice import audit
from idservice.auth.levels import AMR_PASSKEY, AMR_PASSWORD, AMR_PASSWORD_OTP
from idservice.auth.sessions import end_session, start_session, step_up_session
from idservice.db import db_session, transactional
from idservice.models.base import utcnow
from idservice.models.residents import Resident, SignInFailure
from idservice.services import totp
from idservice.services.passwords import hash_password, needs_rehash, verify_password
from idservice.services.residents import dao_get_resident_by_email

WRONG_DETAILS = (
    "Enter the email address and password for your Kent account. They do not match our records"
)
LOCKED = (
    "You have tried to sign in too many times. "
    "Wait 15 minutes and try again, or reset your password"
)
WRONG_CODE = "The code is not correct or has already been used. Enter the code your app shows now"
WRONG_PASSWORD = "Your password is not correct"  # noqa: S105 - a message, not a secret
CODE_EXPIRED = "Your sign-in has timed out. Sign in again with your email address and password"


@dataclass(frozen=True)
class SignInOutcome:
    resident: Resident | None
    message: str = ""
    needs_code: bool = False

    @property
    def locked(self) -> bool:
        return self.message == LOCKED


def account_key(email: str) -> str:
    secret = current_app.config["SECRET_KEY"].encode()
    return hmac.new(secret, email.lower().encode(), hashlib.sha256).hexdigest()


def resident_key(resident: Resident) -> str:
    """The lockout key of a resident: their email's, or their id's if they have none."""
    return account_key(resident.email or f"resident:{resident.id}")


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
        latest = latest.replace(tzinfo=UTC)
    return utcnow() - latest < timedelta(seconds=settings.lockout_duration)


def record_failure(key: str) -> None:
    db_session.add(SignInFailure(account_key=key))


def clear_failures(key: str) -> None:
    db_session.execute(delete(SignInFailure).where(SignInFailure.account_key == key))


def check_password_sign_in(email: str, password: str, *, remote_addr: str) -> SignInOutcome:
    """Check an email and password; the caller commits (failures are recorded).

    A correct password does not clear earlier failures: that happens in
    :func:`complete_sign_in`, after any second factor.
    """
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
                details={"method": "password"},
            )
        return SignInOutcome(None, WRONG_DETAILS)
    if resident.password_hash and needs_rehash(resident.password_hash):
        resident.password_hash = hash_password(password)
    return SignInOutcome(resident, needs_code=resident.totp_enabled_at is not None)


def complete_sign_in(
    resident: Resident, amr: list[str], method: str, **details: str | None
) -> None:
    """Start the browser session and record the sign-in; the caller commits."""
    clear_failures(resident_key(resident))
    audit.record(
        "sign_in.succeeded",
        resident_id=resident.id,
        actor_type="resident",
        actor_id=resident.id,
        channel="web",
        details={"method": method, **details},
    )
    start_session(resident, amr)


@transactional
def sign_in_with_password(email: str, password: str, *, remote_addr: str) -> SignInOutcome:
    """First step of sign-in; starts the session unless a one-time code is still needed."""
    outcome = check_password_sign_in(email, password, remote_addr=remote_addr)
    if outcome.resident is not None and not outcome.needs_code:
        complete_sign_in(outcome.resident, AMR_PASSWORD, "password")
    return outcome


def _check_code(resident: Resident, code: str, action: str) -> str:
    """Check a one-time code against the lockout; an error message, or "" when right."""
    key = resident_key(resident)
    if is_locked(key):
        return LOCKED
    if not totp.verify_and_consume(resident, code):
        record_failure(key)
        audit.record(
            action,
            resident_id=resident.id,
            actor_type="resident",
            actor_id=None,
            channel="web",
            details={"method": "authenticator app"},
        )
        return WRONG_CODE
    return ""


@transactional
def sign_in_with_code(resident_id: str, code: str) -> SignInOutcome:
    """Second step of sign-in for residents with an authenticator app."""
    resident = db_session.get(Resident, resident_id)
    if resident is None or not resident.is_active or resident.totp_enabled_at is None:
        return SignInOutcome(None, CODE_EXPIRED)
    message = _check_code(resident, code, "sign_in.failed")
    if message:
        return SignInOutcome(None, message)
    complete_sign_in(resident, AMR_PASSWORD_OTP, "password and authenticator app")
    return SignInOutcome(resident)


@transactional
def sign_in_with_passkey(resident: Resident) -> None:
    """Start a session after :func:`passkeys.verify_authentication` accepted a passkey."""
    complete_sign_in(resident, AMR_PASSKEY, "passkey")


@transactional
def step_up_with_code(resident: Resident, code: str) -> str:
    """Raise the current session with a one-time code; an error message or ""."""
    message = _check_code(resident, code, "step_up.failed")
    if message:
        return message
    clear_failures(resident_key(resident))
    step_up_session(AMR_PASSWORD_OTP)
    _record_step_up(resident, "authenticator app")
    return ""


@transactional
def step_up_with_passkey(resident: Resident) -> None:
    step_up_session(AMR_PASSKEY)
    _record_step_up(resident, "passkey")


def _record_step_up(resident: Resident, method: str) -> None:
    audit.record(
        "step_up.succeeded",
        resident_id=resident.id,
        actor_type="resident",
        actor_id=resident.id,
        channel="web",
        details={"method": method},
    )


@transactional
def reauthenticate_with_password(resident: Resident, password: str) -> str:
    """ "Confirm it is you" with the password; an error message or "".

    Wrong passwords count towards the same lockout as sign-in, so a browser left signed in
    gives no extra guesses.
    """
    key = resident_key(resident)
    if is_locked(key):
        return LOCKED
    if not verify_password(resident.password_hash, password):
        record_failure(key)
        audit.record(
            "reauth.failed",
            resident_id=resident.id,
            actor_type="resident",
            actor_id=None,
            channel="web",
            details={"method": "password"},
        )
        return WRONG_PASSWORD
    clear_failures(key)
    step_up_session(AMR_PASSWORD)
    _record_step_up(resident, "password")
    return ""


@transactional
def sign_out() -> None:
    end_session()
