"""Staff sign-in and staff sessions, kept apart from residents'.

A staff session is a row in ``staff_sessions`` whose id sits under its own key
(``staff_sid``) in the cookie; resident code only reads ``sid`` and the ``resident_sessions``
table, so neither kind of sign-in can be taken for the other. A staff session exists only
after the password and a code from the authenticator app: a first sign-in sets the app up
before anything else. Staff sessions end after 30 idle minutes, far sooner than residents',
because the console is used on shared counters; the store is the residents' one
(:mod:`idservice.auth.session_store`) with these parameters.

Failed sign-ins slow down the source that keeps failing, as for residents
(:mod:`idservice.services.throttle`), with their own key space (``staff:`` before the
address), so a resident and a member of staff with the same address never share a count.
At the per-account ceiling sign-in pauses until an administrator resumes it
(``kentcard staff resume-sign-in``): staff have no reset by email, and a hundred failures
against a staff account are an incident for a person to look at.

The "pending" note kept in the cookie between the password and the code is single-use:
it names the time it was made, and it stops working once any sign-in of that member of
staff completes after that time (see :func:`pending_is_current`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import Any

import pyotp

from idservice import audit
from idservice.auth.session_store import SessionStore
from idservice.db import db_session, transactional
from idservice.models.base import utcnow
from idservice.models.staff import StaffMember, StaffSession
from idservice.services import signin, throttle, totp
from idservice.services.passwords import hash_password, needs_rehash, verify_password
from idservice.staff import dao

SESSION_KEY = "staff_sid"
IDLE_TIMEOUT = timedelta(minutes=30)
ABSOLUTE_TIMEOUT = timedelta(hours=10)
STORE = SessionStore(
    name="staff",
    record=StaffSession,
    owner=StaffMember,
    owner_column=StaffSession.staff_id,
    cookie_key=SESSION_KEY,
    idle_timeout=IDLE_TIMEOUT,
    absolute_timeout=ABSOLUTE_TIMEOUT,
    sign_in_endpoint="staff.sign_in",
    is_active=lambda staff: staff.active,
)
TOTP_ISSUER = "Kent staff console"

WRONG_DETAILS = "Enter the email address and password for your staff account. They do not match"
LOCKED = signin.LOCKED
PAUSED = (
    "Signing in with a password is paused for this account after many failed attempts. "
    "Ask an administrator of the staff console to let you sign in again"
)
WRONG_CODE = "The code is not correct or has already been used. Enter the code your app shows now"


def throttle_account(email: str) -> str:
    """The name a member of staff's failures are counted under (apart from residents')."""
    return f"staff:{email.lower()}"


@dataclass(frozen=True)
class StaffSignIn:
    staff: StaffMember | None
    message: str = ""
    needs_setup: bool = False

    @property
    def locked(self) -> bool:
        """Refused without checking: the source must wait, or the account is paused."""
        return self.message in (LOCKED, PAUSED)


def _refusal(verdict: throttle.Verdict) -> str:
    return PAUSED if verdict.paused else LOCKED


def _audit(action: str, staff: StaffMember, **details: Any) -> None:
    audit.record(
        action,
        resident_id=None,
        actor_type="staff",
        actor_id=staff.id,
        channel="web",
        details={"staff_role": staff.role, **details},
    )


@transactional
def check_password(email: str, password: str, *, remote_addr: str | None = None) -> StaffSignIn:
    """First step; failures are counted whether or not the address exists."""
    account, source = throttle_account(email), throttle.source_of(remote_addr)
    verdict = throttle.check(account, source)
    if not verdict.allowed:
        return StaffSignIn(None, _refusal(verdict))
    staff = dao.dao_get_staff_by_email(email)
    ok = verify_password(staff.password_hash if staff else None, password)
    if not ok or staff is None or not staff.active:
        throttle.record_failure(account, source)
        if staff is not None:
            _audit("staff.sign_in_failed", staff, method="password")
        return StaffSignIn(None, WRONG_DETAILS)
    if needs_rehash(staff.password_hash):
        staff.password_hash = hash_password(password)
    return StaffSignIn(staff, needs_setup=staff.totp_enabled_at is None)


def pending_is_current(staff_id: str, issued_at: float) -> bool:
    """Whether a half-finished sign-in made at ``issued_at`` (seconds since the epoch) may
    still be finished: not once a sign-in of this member of staff has completed since."""
    staff = db_session.get(StaffMember, staff_id)
    if staff is None:
        return False
    last = staff.last_signed_in_at
    if last is None:
        return True
    return (last if last.tzinfo else last.replace(tzinfo=UTC)).timestamp() < issued_at


@transactional
def resume_sign_in(email: str) -> StaffMember | None:
    """Forget the failures counted against a staff account (it stays throttled per
    source); None when there is no such account. For administrators at the server."""
    staff = dao.dao_get_staff_by_email(email)
    if staff is None:
        return None
    throttle.clear(throttle_account(staff.email))
    audit.record(
        "staff.sign_in_resumed",
        resident_id=None,
        actor_type="system",
        actor_id="kentcard staff resume-sign-in",
        channel="system",
        details={"staff_id": staff.id},
    )
    return staff


def staff_email(staff_id: str) -> str:
    return dao.dao_get_staff_by_id(staff_id).email


def provisioning_uri(email: str, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=TOTP_ISSUER)


@transactional
def complete_with_code(
    staff_id: str, code: str, *, setting_up: bool, secret: str | None = None
) -> StaffSignIn:
    """Second step (or the first sign-in's app setup); starts the staff session.

    Setting up, ``secret`` is the one shown on the setup page (kept in the session until
    now): it is stored only once ``code`` proves the app has it.
    """
    staff = dao.dao_get_staff_by_id(staff_id)
    account, source = throttle_account(staff.email), throttle.source_of()
    if not staff.active:
        return StaffSignIn(None, WRONG_DETAILS)
    verdict = throttle.check(account, source)
    if not verdict.allowed:
        return StaffSignIn(None, _refusal(verdict))
    if setting_up != (staff.totp_enabled_at is None):
        return StaffSignIn(None, WRONG_CODE)
    if setting_up:
        accepted = secret is not None and totp.start_using(staff, secret, code)
    else:
        accepted = totp.verify_and_consume(staff, code)
    if not accepted:
        throttle.record_failure(account, source)
        _audit("staff.sign_in_failed", staff, method="authenticator app")
        return StaffSignIn(None, WRONG_CODE)
    if setting_up:
        staff.totp_enabled_at = utcnow()
        _audit("staff.second_factor_added", staff, method="authenticator app")
    throttle.clear(account, source)
    staff.last_signed_in_at = utcnow()
    _audit("staff.signed_in", staff, method="password and authenticator app")
    start_session(staff)
    return StaffSignIn(staff)


def start_session(staff: StaffMember) -> StaffSession:
    """A fresh session id and cookie; the caller commits.

    Any resident signed in on this browser is signed out first (the store ends every
    session the cookie names): a counter PC must never carry a resident's session into the
    staff console or back.
    """
    return STORE.start(staff)


@transactional
def sign_out() -> None:
    STORE.end()


#: The signed-in member of staff, or None once the session has ended or gone idle.
current_staff = STORE.current_owner
staff_login_required = STORE.login_required
