"""Resident account pages: sign in and out (with an authenticator app code or a passkey),
the account overview and "Your account activity".

Registration and password reset are in ``registration.py``, changing details in
``account_settings.py`` and second factors and step-up in ``security.py``; all of them add
routes to this blueprint.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, jsonify, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue

from idservice.auth.sessions import current_resident, login_required, safe_next_url
from idservice.models.residents import ALTERNATIVE_FORMATS, LANGUAGES
from idservice.services import activity, passkeys, ratelimit, service_offers, signin, totp
from idservice.services.residents import dao_get_resident_by_id
from idservice.web.forms import Field, Form, current_password_field
from idservice.web.pages import form_page, json_body, json_csrf_ok, json_error, over_limit

bp = Blueprint("accounts", __name__)

#: Between the password page and the code page: who, since when, where to go next.
PENDING_KEY = "mfa_pending"
PENDING_LIFETIME = 300


class SignInForm(Form):
    fields = (
        Field(
            "email",
            "Email address",
            kind="email",
            max_length=254,
            required_message="Enter your email address",
        ),
        current_password_field(),
    )


def code_field(label: str = "Security code") -> Field:
    return Field(
        "code",
        label,
        max_length=20,
        hint="The 6-digit code shown in your authenticator app",
        required_message="Enter the 6-digit code from your authenticator app",
        check=totp.normalise_code,
        autocomplete="one-time-code",
    )


class CodeForm(Form):
    fields = (code_field(),)


class EmptyForm(Form):
    """A button on its own: only the CSRF token is checked."""


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in() -> ResponseReturnValue:
    next_url = safe_next_url(request.values.get("next"))
    form = SignInForm(request.form if request.method == "POST" else None)
    status = None
    if form.submitted and over_limit(ratelimit.SIGN_IN, form):
        status = 429
    elif form.validate():
        outcome = signin.sign_in_with_password(
            form.data["email"], form.data["password"], remote_addr=request.remote_addr or ""
        )
        if outcome.resident is not None and outcome.needs_code:
            session[PENDING_KEY] = {
                "resident_id": outcome.resident.id,
                "at": int(time.time()),
                "next": next_url,
            }
            return redirect(url_for("accounts.sign_in_code"))
        if outcome.resident is not None:
            return redirect(next_url)
        form.add_error("email", outcome.message)
        status = 429 if outcome.locked else 400
    return form_page("accounts/sign_in.html", form, status, next_url=next_url)


def _pending() -> dict[str, Any] | None:
    pending = session.get(PENDING_KEY)
    if not isinstance(pending, dict) or time.time() - pending.get("at", 0) > PENDING_LIFETIME:
        session.pop(PENDING_KEY, None)
        return None
    return pending


@bp.route("/sign-in/code", methods=["GET", "POST"])
def sign_in_code() -> ResponseReturnValue:
    """Second sign-in page for residents with an authenticator app; no session until here."""
    pending = _pending()
    if pending is None:
        return redirect(url_for("accounts.sign_in"))
    form = CodeForm(request.form if request.method == "POST" else None)
    status = None
    if form.submitted and over_limit(ratelimit.ONE_TIME_CODE, form):
        status = 429
    elif form.validate():
        outcome = signin.sign_in_with_code(str(pending["resident_id"]), form.data["code"])
        if outcome.resident is not None:
            return redirect(safe_next_url(pending.get("next")))
        if outcome.locked or outcome.message == signin.CODE_EXPIRED:
            session.pop(PENDING_KEY, None)
        form.add_error("code", outcome.message)
        status = 429 if outcome.locked else 400
    return form_page("accounts/sign_in_code.html", form, status)


@bp.post("/sign-in/passkey/options")
def passkey_sign_in_options() -> ResponseReturnValue:
    if not json_csrf_ok():
        return json_error("This page has expired. Reload the page and try again", 400)
    if over_limit(ratelimit.PASSKEY):
        return json_error("You have tried too many times. Wait a minute and try again", 429)
    return (
        passkeys.authentication_options(passkeys.SIGN_IN),
        200,
        {"Content-Type": "application/json"},
    )


@bp.post("/sign-in/passkey/verify")
def passkey_sign_in_verify() -> ResponseReturnValue:
    if not json_csrf_ok():
        return json_error("This page has expired. Reload the page and try again", 400)
    try:
        resident = passkeys.verify_authentication(json_body(), passkeys.SIGN_IN)
    except passkeys.PasskeyError as exc:
        return json_error(str(exc), 400)
    signin.sign_in_with_passkey(resident)
    return jsonify(redirect=safe_next_url(request.args.get("next")))


@bp.route("/sign-out", methods=["GET", "POST"])
def sign_out() -> ResponseReturnValue:
    """POST with a CSRF token signs out; anything else shows a page with the button."""
    form = EmptyForm(request.form if request.method == "POST" else None)
    if form.validate():
        signin.sign_out()
        return redirect(url_for("accounts.signed_out"))
    return form_page(
        "accounts/button_form.html",
        form,
        title="Sign out",
        action=url_for("accounts.sign_out"),
        button_text="Sign out",
    )


@bp.get("/signed-out")
def signed_out() -> str:
    return render_template("accounts/signed_out.html")


def _current_resident_id() -> str:
    resident = current_resident()
    assert resident is not None  # login_required
    return resident.id


@bp.get("/account")
@login_required
def account() -> str:
    resident = dao_get_resident_by_id(_current_resident_id())
    return render_template(
        "accounts/account.html",
        resident=resident,
        languages=LANGUAGES,
        formats=ALTERNATIVE_FORMATS,
        passkeys=passkeys.dao_get_passkeys(resident.id),
        offers=service_offers.open_offers(resident.id) if resident.is_active else [],
    )


@bp.get("/account/activity")
@login_required
def account_activity() -> str:
    items = activity.activity_for(_current_resident_id())
    return render_template("accounts/activity.html", items=items)
