"""Server-side browser sessions, one implementation for residents and for staff.

The Flask cookie carries only a random session id under the store's own key; the session
row (:class:`idservice.models.base.SessionRow`) holds who signed in and when. Ending the
row signs the browser out everywhere the id is used. What differs between residents and
staff is a parameter of :class:`SessionStore`: the row and owner models, the cookie key, the
idle and absolute timeouts, the sign-in page and what makes an owner active.

Every store is registered here, and starting or ending any session ends every session this
browser's cookie names, of every kind, before the cookie is cleared: a counter PC never
carries a resident's session into the staff console or back, and no cleared cookie leaves
a live row behind.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Generic, Protocol, TypeVar

from flask import g, redirect, request, session, url_for
from sqlalchemy import select, update
from sqlalchemy.orm import InstrumentedAttribute

from idservice.db import db_session
from idservice.models.base import SessionRow, utcnow

F = TypeVar("F", bound=Callable[..., Any])
R = TypeVar("R", bound=SessionRow)


class Owner(Protocol):
    @property
    def id(self) -> str: ...


O = TypeVar("O", bound=Owner)  # noqa: E741

#: How often a session in use has its ``last_seen_at`` written (not on every request).
SEEN_EVERY = timedelta(minutes=1)

_STORES: list[SessionStore[Any, Any]] = []


class SessionStore(Generic[R, O]):
    """Sessions of one kind (``name``: ``resident`` or ``staff``).

    During a request the current row and owner are kept in ``g.<name>_session`` and
    ``g.<name>``. Methods that write leave the commit to the caller, except that a
    session in use has its ``last_seen_at`` brought up to date at most once a minute.
    """

    def __init__(
        self,
        *,
        name: str,
        record: type[R],
        owner: type[O],
        owner_column: InstrumentedAttribute[str],
        cookie_key: str,
        idle_timeout: timedelta,
        absolute_timeout: timedelta,
        sign_in_endpoint: str,
        is_active: Callable[[O], bool],
    ) -> None:
        self.record = record
        self.owner = owner
        self.owner_column = owner_column
        self.cookie_key = cookie_key
        self.idle_timeout = idle_timeout
        self.absolute_timeout = absolute_timeout
        self.sign_in_endpoint = sign_in_endpoint
        self.is_active = is_active
        self._g_record = f"{name}_session"
        self._g_owner = name
        _STORES.append(self)

    def start(self, owner: O, **fields: Any) -> R:
        """Sign ``owner`` in with a new row (``fields`` are the kind's own columns).

        A new id every time (no session fixation); the rest of the cookie, the CSRF token
        included, is cleared and every session it named is ended first.
        """
        end_browser_sessions()
        record = self.record(
            id=secrets.token_urlsafe(32),
            **{self.owner_column.key: owner.id},
            auth_time=utcnow(),
            **fields,
        )
        db_session.add(record)
        session[self.cookie_key] = record.id
        session.permanent = True
        setattr(g, self._g_record, record)
        setattr(g, self._g_owner, owner)
        return record

    def end(self) -> None:
        """Sign this browser out (of every kind of session)."""
        end_browser_sessions()

    def _end_named_row(self) -> None:
        sid = session.get(self.cookie_key)
        if sid:
            db_session.execute(
                update(self.record)
                .where(self.record.id == sid, self.record.ended_at.is_(None))
                .values(ended_at=utcnow())
            )
        g.pop(self._g_record, None)
        g.pop(self._g_owner, None)

    def end_all(self, owner_id: str) -> None:
        """End every session of one owner, on every browser."""
        db_session.execute(
            update(self.record)
            .where(self.owner_column == owner_id, self.record.ended_at.is_(None))
            .values(ended_at=utcnow())
        )

    def current(self) -> R | None:
        """This browser's session, or None once it has ended, gone idle, outlived the
        absolute timeout, or its owner has gone or is no longer active."""
        if self._g_record in g:
            return g.get(self._g_record)  # type: ignore[no-any-return]
        sid = session.get(self.cookie_key)
        record = db_session.get(self.record, sid) if sid else None
        owner = None
        now = utcnow()
        if record is not None and (
            record.ended_at is not None
            or now - record.last_seen_at > self.idle_timeout
            or now - record.auth_time > self.absolute_timeout
        ):
            record = None
        if record is not None:
            owner = db_session.get(self.owner, getattr(record, self.owner_column.key))
            if owner is None or not self.is_active(owner):
                record, owner = None, None
            elif now - record.last_seen_at > SEEN_EVERY:
                record.last_seen_at = now
                db_session.commit()
        setattr(g, self._g_record, record)
        setattr(g, self._g_owner, owner)
        return record

    def current_owner(self) -> O | None:
        """Who is signed in on this browser, or None."""
        if self._g_owner not in g:
            self.current()  # keeps the owner in g beside the row
        return g.get(self._g_owner)  # type: ignore[no-any-return]

    def active(self, owner_id: str) -> list[R]:
        rows = db_session.scalars(
            select(self.record).where(self.owner_column == owner_id, self.record.ended_at.is_(None))
        )
        return list(rows)

    def login_required(self, view: F) -> F:
        """Send a browser with no session of this kind to the sign-in page, and back."""

        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if self.current_owner() is None:
                return redirect(url_for(self.sign_in_endpoint, next=request.full_path.rstrip("?")))
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


def end_browser_sessions() -> None:
    """End every session (of every kind) this browser's cookie names, then clear the
    cookie; the caller commits."""
    for store in _STORES:
        store._end_named_row()
    session.clear()
