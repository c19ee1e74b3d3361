"""Staff sign-in: password, then a code from the authenticator app (set up on first use).

Between the two steps only a short-lived "pending" note is kept in the cookie; the staff
session starts when the code is accepted, so nothing in the console is reachable with a
password alone. The note is single-use: once the sign-in completes, a copy of the cookie
taken before then no longer reaches the code page (``auth.pending_is_current``).
"""

from __future__ import annotations

import time
from typing import Any

from flask import redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue

from idservice.auth.sessions import safe_next_url
from idservice.services import totp
from idservice.staff import auth, bp
from idservice.staff.forms import StaffCodeForm, StaffSignInForm
from idservice.web.accounts import EmptyForm
from idservice.web.pages import client_address, form_page, over_limit

PENDING_KEY = "staff_pending"
#: Long enough to type a secret into an app at the first sign-in.
PENDING_LIFETIME = 600
SIGN_IN_LIMIT = "staff-sign-in"
CODE_LIMIT = "staff-otp"


def _next_url() -> str:
    return safe_next_url(request.values.get("next"), default=url_for("staff.home"))


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in() -> ResponseReturnValue:
    next_url = _next_url()
    form = StaffSignInForm(request.form if request.method == "POST" else None)
    status = None
    if form.submitted and over_limit(SIGN_IN_LIMIT, form):
        status = 429
    elif form.validate():
        outcome = auth.check_password(
            form.data["email"], form.data["password"], remote_addr=client_address()
        )
        if outcome.staff is not None:
            session[PENDING_KEY] = {
                "staff_id": outcome.staff.id,
                "at": time.time(),
                "setup": outcome.needs_setup,
                "next": next_url,
            }
            endpoint = "staff.set_up_authenticator" if outcome.needs_setup else "staff.sign_in_code"
            return redirect(url_for(endpoint))
        form.add_error("email", outcome.message)
        status = 429 if outcome.locked else 400
    return form_page("staff/sign_in.html", form, status, next_url=next_url)


def _pending(setup: bool) -> dict[str, Any] | None:
    pending = session.get(PENDING_KEY)
    if (
        not isinstance(pending, dict)
        or time.time() - pending.get("at", 0) > PENDING_LIFETIME
        or bool(pending.get("setup")) != setup
        or not auth.pending_is_current(str(pending.get("staff_id")), float(pending["at"]))
    ):
        return None
    return pending


def _finish(
    pending: dict[str, Any], form: StaffCodeForm, setup: bool
) -> tuple[ResponseReturnValue | None, int | None]:
    """Check the code; a redirect into the console, or the status to show the form with."""
    if over_limit(CODE_LIMIT, form):
        return None, 429
    if not form.validate():
        return None, None
    staff_id = str(pending["staff_id"])
    secret = totp.open_pending(staff_id, pending.get("secret")) if setup else None
    outcome = auth.complete_with_code(staff_id, form.data["code"], setting_up=setup, secret=secret)
    if outcome.staff is not None:
        return redirect(safe_next_url(pending.get("next"), default=url_for("staff.home"))), None
    if outcome.locked:
        session.pop(PENDING_KEY, None)
    form.add_error("code", outcome.message)
    return None, 429 if outcome.locked else 400


@bp.route("/sign-in/code", methods=["GET", "POST"])
def sign_in_code() -> ResponseReturnValue:
    pending = _pending(setup=False)
    if pending is None:
        return redirect(url_for("staff.sign_in"))
    form = StaffCodeForm(request.form if request.method == "POST" else None)
    status = None
    if form.submitted:
        done, status = _finish(pending, form, setup=False)
        if done is not None:
            return done
    return form_page("staff/sign_in_code.html", form, status)


@bp.route("/sign-in/set-up-authenticator-app", methods=["GET", "POST"])
def set_up_authenticator() -> ResponseReturnValue:
    """First sign-in: the app must be set up before anything else in the console."""
    pending = _pending(setup=True)
    if pending is None:
        return redirect(url_for("staff.sign_in"))
    staff_id = str(pending["staff_id"])
    # The secret is kept sealed in the pending note, not stored, until a code from it works.
    secret = totp.open_pending(staff_id, pending.get("secret"))
    if secret is None:
        secret = totp.new_secret()
        pending = {**pending, "secret": totp.seal_pending(staff_id, secret)}
        session[PENDING_KEY] = pending
    form = StaffCodeForm(request.form if request.method == "POST" else None)
    status = None
    if form.submitted:
        done, status = _finish(pending, form, setup=True)
        if done is not None:
            return done
    return form_page(
        "staff/set_up_authenticator.html",
        form,
        status,
        secret=totp.grouped_secret(secret),
        uri=auth.provisioning_uri(auth.staff_email(staff_id), secret),
    )


@bp.route("/sign-out", methods=["GET", "POST"])
def sign_out() -> ResponseReturnValue:
    form = EmptyForm(request.form if request.method == "POST" else None)
    if form.validate():
        auth.sign_out()
        return redirect(url_for("staff.signed_out"))
    return form_page("staff/sign_out.html", form)


@bp.get("/signed-out")
def signed_out() -> str:
    return render_template("staff/signed_out.html")
