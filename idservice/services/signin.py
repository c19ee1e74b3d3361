"""Sign-in with growing delays after failures, without telling who has an account.

Failures (a wrong password, an unknown address, a wrong one-time code) are counted by
:mod:`idservice.services.throttle` for the account from this source, for the source, and
for the account from anywhere. A source that keeps failing must wait longer and longer;
the owner at another source signs in at once with the right password (then the code,
when the account has an authenticator app). Past the per-account ceiling password sign-in
for the address pauses until a reset link, a passkey or the Kent Card proves the owner.
Unknown addresses are counted and answered exactly as real ones, and the password is
checked against a dummy hash for them so the time taken is the same.

Failures are only cleared once the whole sign-in (password and code) succeeds, so knowing
the password does not buy unlimited guesses at the code.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete

from idservice import audit
from idservice.auth.levels import AMR_PASSKEY, AMR_PASSWORD, AMR_PASSWORD_OTP
from idservice.auth.sessions import end_session, start_session, step_up_session
from idservice.db import db_session, transactional
from idservice.models.residents import Resident, SignInFailure
from idservice.services import throttle, totp
from idservice.services.passwords import hash_password, needs_rehash, verify_password
from idservice.services.residents import dao_get_resident_by_email

WRONG_DETAILS = (
    "Enter the email address and password for your Kent account. They do not match our records"
)
LOCKED = "You have tried to sign in too many times. Wait a few minutes and try again"
PAUSED = (
    "Signing in with a password is paused for this email address after many failed "
    "attempts. Reset your password to sign in, or use a passkey or your Kent Card"
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
        """Refused without checking: the source must wait, or the account is paused."""
        return self.message in (LOCKED, PAUSED)


def resident_account(resident: Resident) -> str:
    """The name a resident's failures are counted under: their email, or their id."""
    return (resident.email or f"resident:{resident.id}").lower()


def resident_key(resident: Resident) -> str:
    """The key of a resident's per-account ceiling (see :func:`clear_failures`)."""
    return throttle.account_key(resident_account(resident))


def refusal(verdict: throttle.Verdict) -> str:
    """The message for an attempt the throttle refused; the same for every address."""
    return PAUSED if verdict.paused else LOCKED


def clear_failures(key: str) -> None:
    """Forget the per-account failures under ``key`` (from :func:`resident_key`)."""
    db_session.execute(delete(SignInFailure).where(SignInFailure.account_key == key))


def check_password_sign_in(email: str, password: str, *, remote_addr: str) -> SignInOutcome:
    """Check an email and password; the caller commits (failures are recorded).

    A correct password does not clear earlier failures: that happens in
    :func:`complete_sign_in`, after any second factor.
    """
    account, source = email.lower(), throttle.source_of(remote_addr)
    verdict = throttle.check(account, source)
    if not verdict.allowed:
        return SignInOutcome(None, refusal(verdict))
    resident = dao_get_resident_by_email(email)
    ok = verify_password(resident.password_hash if resident else None, password)
    if not ok or resident is None or not resident.is_active:
        throttle.record_failure(account, source)
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
    """Start the browser session and record the sign-in; the caller commits.

    The owner is proven: the account's failures, and this source's for it, are forgotten.
    """
    throttle.clear(resident_account(resident), throttle.source_of())
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


def _check_code(resident: Resident, code: str, action: str, *, ceiling: bool = False) -> str:
    """Check a one-time code against the throttle; an error message, or "" when right.

    ``ceiling`` applies the per-account pause too (at sign-in; a step-up happens inside a
    session the owner already opened, and only the delays apply).
    """
    account, source = resident_account(resident), throttle.source_of()
    verdict = throttle.check(account, source)
    if verdict.paused and ceiling:
        return PAUSED
    if verdict.wait_seconds:
        return LOCKED
    if not totp.verify_and_consume(resident, code):
        throttle.record_failure(account, source)
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
    message = _check_code(resident, code, "sign_in.failed", ceiling=True)
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

    Wrong passwords count towards the same throttle as sign-in, so a browser left signed in
    gives no extra guesses.
    """
    account, source = resident_account(resident), throttle.source_of()
    verdict = throttle.check(account, source)
    if verdict.wait_seconds:
        return LOCKED
    if not verify_password(resident.password_hash, password):
        throttle.record_failure(account, source)
        audit.record(
            "reauth.failed",
            resident_id=resident.id,
            actor_type="resident",
            actor_id=None,
            channel="web",
            details={"method": "password"},
        )
        return WRONG_PASSWORD
    throttle.clear(account, source)
    step_up_session(AMR_PASSWORD)
    _record_step_up(resident, "password")
    return ""


@transactional
def sign_out() -> None:
    end_session()
