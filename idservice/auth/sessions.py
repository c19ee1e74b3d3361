"""Resident browser sessions.

The Flask cookie carries only a random session id; the session row holds who signed in,
when and how (``acr``/``amr``). Ending the row signs the browser out everywhere it is used.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from flask import g, redirect, request, session, url_for
from sqlalchemy import select, update

from idservice.auth.levels import acr_for
from idservice.db import db_session
from idservice.models.base import utcnow
from idservice.models.residents import Resident, ResidentSession

# Where to go after signing in is decided with the rest of the request's input.
from idservice.request_input import safe_next_url as safe_next_url

F = TypeVar("F", bound=Callable[..., Any])

SESSION_KEY = "sid"
#: A session not used for this long ends.
IDLE_TIMEOUT = timedelta(hours=2)
#: A session ends this long after sign-in, however busy.
ABSOLUTE_TIMEOUT = timedelta(hours=12)


def start_session(resident: Resident, amr: list[str]) -> ResidentSession:
    """Sign ``resident`` in; the caller commits.

    A new id every time (no session fixation); the CSRF token is renewed too.
    """
    end_session()
    record = ResidentSession(
        id=secrets.token_urlsafe(32),
        resident_id=resident.id,
        acr=acr_for(amr),
        amr=list(amr),
        auth_time=utcnow(),
    )
    db_session.add(record)
    session.clear()
    session[SESSION_KEY] = record.id
    session.permanent = True
    g.resident_session = record
    g.resident = resident
    return record


def end_session() -> None:
    """Sign the current browser out; the caller commits."""
    sid = session.get(SESSION_KEY)
    if sid:
        db_session.execute(
            update(ResidentSession)
            .where(ResidentSession.id == sid, ResidentSession.ended_at.is_(None))
            .values(ended_at=utcnow())
        )
    session.clear()
    g.pop("resident_session", None)
    g.pop("resident", None)


def end_all_sessions(resident_id: str) -> None:
    """End every session of a resident (password reset, account closed); caller commits."""
    db_session.execute(
        update(ResidentSession)
        .where(ResidentSession.resident_id == resident_id, ResidentSession.ended_at.is_(None))
        .values(ended_at=utcnow())
    )


def current_session() -> ResidentSession | None:
    if "resident_session" in g:
        return g.resident_session  # type: ignore[no-any-return]
    sid = session.get(SESSION_KEY)
    record = None
    if sid:
        record = db_session.get(ResidentSession, sid)
        now = utcnow()
        if record is not None and (
            record.ended_at is not None
            or now - record.last_seen_at > IDLE_TIMEOUT
            or now - record.auth_time > ABSOLUTE_TIMEOUT
        ):
            record = None
        if record is not None:
            resident = db_session.get(Resident, record.resident_id)
            if resident is None or not resident.is_active:
                record = None
            elif now - record.last_seen_at > timedelta(minutes=1):
                record.last_seen_at = now
                db_session.commit()
    g.resident_session = record
    return record


def current_resident() -> Resident | None:
    if "resident" in g:
        return g.resident  # type: ignore[no-any-return]
    record = current_session()
    resident = db_session.get(Resident, record.resident_id) if record else None
    g.resident = resident
    return resident


def step_up_session(amr: list[str]) -> None:
    """Raise the current session's level after an extra factor; the caller commits."""
    record = current_session()
    if record is None:
        return
    merged = sorted(set(record.amr) | set(amr))
    record.amr = merged
    record.acr = acr_for(merged)
    record.auth_time = utcnow()


def login_required(view: F) -> F:
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_resident() is None:
            return redirect(url_for("accounts.sign_in", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def auth_time_of(record: ResidentSession) -> int:
    return int(record.auth_time.timestamp())


def active_sessions(resident_id: str) -> list[ResidentSession]:
    rows = db_session.scalars(
        select(ResidentSession).where(
            ResidentSession.resident_id == resident_id, ResidentSession.ended_at.is_(None)
        )
    )
    return list(rows)
