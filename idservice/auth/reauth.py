"""Re-authentication before sensitive changes ("Confirm it is you").

A browser left signed in on a shared computer must not be enough to take an account over.
Changing the email address, password, phone number, second factors or passkeys, or closing
the account, needs an authentication no older than ``reauth_window`` seconds (default 5
minutes), like OpenID Connect's ``max_age``. The time of the last authentication is the
session row's ``auth_time``: signing in sets it, and so does confirming it is you with a
password, a code from an authenticator app, a passkey or the Kent Card (see
``idservice/web/reauth.py``).

Use :func:`recent_auth_required` on a page (or :func:`recent_auth_json` on a JSON endpoint
called by a script), or call :func:`reauth_response` inside a view where only some requests
are sensitive. When the window has passed, a GET goes to "Confirm it is you" before anything
is typed; a POST keeps what was typed (never passwords or codes) sealed in the session and
:func:`restore_typed` puts it back in the form once the person returns.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from flask import current_app, jsonify, redirect, request, session, url_for
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import MultiDict

from idservice.auth.sessions import current_session, login_required
from idservice.models.base import utcnow
from idservice.models.residents import ResidentSession
from idservice.services import tokens

F = TypeVar("F", bound=Callable[..., Any])

#: In the session: what was typed into a sensitive form when the window had passed.
STASH_KEY = "reauth_typed"
#: A stash older than this is thrown away (the person gave up).
STASH_LIFETIME = 15 * 60
#: Never kept, whatever the form: secrets and one-time values.
_NOT_KEPT = ("csrf_token", "password", "current_password", "password_confirm", "code")
#: Sealed stashes longer than this are not kept (the session cookie has to stay small).
_MAX_STASH = 2000

NEEDS_REAUTH_JSON = "For your security, confirm it is you first"


def reauth_window() -> timedelta:
    return timedelta(seconds=current_app.config["KENTCARD"].reauth_window)


def is_recent(record: ResidentSession | None) -> bool:
    """True when the session's last authentication is inside the window."""
    if record is None:
        return False
    return utcnow() - record.auth_time <= reauth_window()


def confirm_url(next_url: str) -> str:
    return url_for("accounts.reauthenticate", next=next_url)


def _this_page() -> str:
    return request.full_path.rstrip("?") if request.query_string else request.path


def _stash_typed() -> None:
    kept = {
        name: [v for v in request.form.getlist(name) if isinstance(v, str)]
        for name in request.form
        if name not in _NOT_KEPT and "password" not in name
    }
    session.pop(STASH_KEY, None)
    if not kept:
        return
    sealed = tokens.seal(json.dumps(kept))
    if len(sealed) <= _MAX_STASH:
        session[STASH_KEY] = {"path": request.path, "at": int(time.time()), "typed": sealed}


def reauth_response() -> ResponseReturnValue | None:
    """``None`` when the session authenticated recently enough; otherwise a redirect to
    "Confirm it is you" that comes back here (keeping what a POST carried)."""
    if is_recent(current_session()):
        return None
    if request.method == "POST":
        _stash_typed()
    return redirect(confirm_url(_this_page()))


def restore_typed(form: Any) -> None:
    """Put back what was typed before "Confirm it is you" (GET only, once)."""
    stash = session.get(STASH_KEY)
    if request.method != "GET" or not isinstance(stash, dict):
        return
    if stash.get("path") != request.path:
        return
    session.pop(STASH_KEY, None)
    if time.time() - int(stash.get("at", 0)) > STASH_LIFETIME:
        return
    opened = tokens.unseal(str(stash.get("typed", "")))
    if opened is None:
        return
    typed = json.loads(opened)
    if not isinstance(typed, dict):
        return
    formdata = MultiDict(
        [(k, v) for k, values in typed.items() if isinstance(values, list) for v in values]
    )
    for field in form.fields:
        if field.kind != "password" and field.name not in _NOT_KEPT:
            form.values[field.name] = form._raw(field, formdata)


def recent_auth_required(view: F) -> F:
    """A page that needs a recent authentication (and a signed-in resident)."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        response = reauth_response()
        if response is not None:
            return response
        return view(*args, **kwargs)

    return login_required(wrapper)  # type: ignore[return-value]


def recent_auth_json(back_to: Callable[[], str]) -> Callable[[F], F]:
    """The same for a JSON endpoint: 401 with where to confirm; ``back_to`` is the page
    the person returns to afterwards (the page the script runs on)."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if is_recent(current_session()):
                return view(*args, **kwargs)
            return jsonify(error=NEEDS_REAUTH_JSON, redirect=confirm_url(back_to())), 401

        return login_required(wrapper)  # type: ignore[return-value]

    return decorate
