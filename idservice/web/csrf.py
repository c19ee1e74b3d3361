"""CSRF protection for forms (synchroniser token kept in the session).

A failed check does not throw the form away: :class:`idservice.web.forms.Form` reports it
as an error at the top of the page and keeps what was typed.
"""

from __future__ import annotations

import secrets

from flask import session

from idservice.request_input import same_token

CSRF_FIELD = "csrf_token"
_SESSION_KEY = "_csrf"


def csrf_token() -> str:
    token = session.get(_SESSION_KEY)
    if not token:
        token = secrets.token_urlsafe(32)
        session[_SESSION_KEY] = token
    return str(token)


def csrf_valid(submitted: str | None) -> bool:
    expected = session.get(_SESSION_KEY)
    if not expected or not submitted:
        return False
    return same_token(str(expected), submitted)
