"""Resident browser sessions.

The Flask cookie carries only a random session id; the session row holds who signed in,
when and how (``acr``/``amr``). Ending the row signs the browser out everywhere it is used.
The store itself is :mod:`idservice.auth.session_store`, shared with staff sessions.
"""

from __future__ import annotations

from datetime import timedelta

from idservice.auth.levels import acr_for
from idservice.auth.session_store import SessionStore
from idservice.models.base import utcnow
from idservice.models.residents import Resident, ResidentSession

# Where to go after signing in is decided with the rest of the request's input.
from idservice.request_input import safe_next_url as safe_next_url

SESSION_KEY = "sid"
#: A session not used for this long ends.
IDLE_TIMEOUT = timedelta(hours=2)
#: A session ends this long after sign-in, however busy.
ABSOLUTE_TIMEOUT = timedelta(hours=12)

STORE = SessionStore(
    name="resident",
    record=ResidentSession,
    owner=Resident,
    owner_column=ResidentSession.resident_id,
    cookie_key=SESSION_KEY,
    idle_timeout=IDLE_TIMEOUT,
    absolute_timeout=ABSOLUTE_TIMEOUT,
    sign_in_endpoint="accounts.sign_in",
    is_active=lambda resident: resident.is_active,
)

#: Sign the current browser out; the caller commits.
end_session = STORE.end
#: End every session of a resident (password reset, account closed); the caller commits.
end_all_sessions = STORE.end_all
current_session = STORE.current
current_resident = STORE.current_owner
active_sessions = STORE.active
login_required = STORE.login_required


def start_session(resident: Resident, amr: list[str]) -> ResidentSession:
    """Sign ``resident`` in at the level ``amr`` gives; the caller commits."""
    return STORE.start(resident, acr=acr_for(amr), amr=list(amr))


def step_up_session(amr: list[str]) -> None:
    """Raise the current session's level after an extra factor; the caller commits."""
    record = current_session()
    if record is None:
        return
    merged = sorted(set(record.amr) | set(amr))
    record.amr = merged
    record.acr = acr_for(merged)
    record.auth_time = utcnow()


def auth_time_of(record: ResidentSession) -> int:
    return int(record.auth_time.timestamp())
