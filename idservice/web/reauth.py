"""'Confirm it is you' before a sensitive change, and undoing an email change.

Pages protected with :func:`idservice.auth.reauth.recent_auth_required` send the resident
here when their last authentication is older than the window. Any way of signing in that
the account has will do: the password, a code from the authenticator app, a passkey, or
the Kent Card and its PIN (through the card sign-in pages, which start a new session).
Afterwards the resident goes back to the page they came from.

The undo link in the notice sent to the old address after an email change shows a page
with a button (link checkers in mail systems follow links; they do not press buttons).
"""

from __future__ import annotations

from flask import redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue

from idservice.auth.reauth import STASH_KEY, reauth_window
from idservice.auth.sessions import current_session, login_required, safe_next_url
from idservice.cards.dao import dao_get_active_card
from idservice.models.residents import Resident
from idservice.services import email_undo, passkeys, ratelimit, signin
from idservice.services.residents import dao_get_resident_by_id
from idservice.web.accounts import CodeForm, EmptyForm, bp
from idservice.web.forms import Form, current_password_field
from idservice.web.pages import form_page, over_limit


class ConfirmPasswordForm(Form):
    fields = (current_password_field(),)


def _resident() -> Resident:
    record = current_session()
    assert record is not None  # login_required
    return dao_get_resident_by_id(record.resident_id)


def _can_use_card(resident: Resident) -> bool:
    record = current_session()
    signed_in_by_card = record is not None and "sc" in (record.amr or [])
    return signed_in_by_card or dao_get_active_card(resident.id) is not None


@bp.route("/account/confirm-it-is-you", methods=["GET", "POST"])
@login_required
def reauthenticate() -> ResponseReturnValue:
    next_url = safe_next_url(request.args.get("next"))
    resident = _resident()
    has_code = resident.totp_enabled_at is not None
    password_form = ConfirmPasswordForm(
        request.form if request.method == "POST" and "password" in request.form else None
    )
    code_form = CodeForm(
        request.form if request.method == "POST" and "code" in request.form and has_code else None
    )
    status = None
    if password_form.submitted:
        if over_limit(ratelimit.SIGN_IN, password_form):
            status = 429
        elif password_form.validate():
            message = signin.reauthenticate_with_password(resident, password_form.data["password"])
            if not message:
                return redirect(next_url)
            password_form.add_error("password", message)
            status = 429 if message == signin.LOCKED else 400
    elif code_form.submitted:
        if over_limit(ratelimit.ONE_TIME_CODE, code_form):
            status = 429
        elif code_form.validate():
            message = signin.step_up_with_code(resident, code_form.data["code"])
            if not message:
                return redirect(next_url)
            code_form.add_error("code", message)
            status = 429 if message == signin.LOCKED else 400
    elif request.method == "POST":
        status = 400
        password_form = ConfirmPasswordForm(request.form)
        password_form.validate()
    has_errors = bool(password_form.errors or code_form.errors)
    return render_template(
        "accounts/reauthenticate.html",
        form=password_form,
        code_form=code_form,
        page_has_errors=has_errors,
        resident=resident,
        has_password=resident.password_hash is not None,
        has_code=has_code,
        has_passkeys=bool(passkeys.dao_get_passkeys(resident.id)),
        can_use_card=_can_use_card(resident),
        next_url=next_url,
        kept=isinstance(session.get(STASH_KEY), dict),
        minutes=max(1, int(reauth_window().total_seconds()) // 60),
    ), status or (400 if has_errors else 200)


@bp.route("/undo-email-change/<token>", methods=["GET", "POST"])
def undo_email_change(token: str) -> ResponseReturnValue:
    if email_undo.pending_undo(token) is None:
        return render_template("accounts/link_expired.html", journey="undo-email"), 400
    form = EmptyForm(request.form if request.method == "POST" else None)
    if form.validate():
        try:
            undone = email_undo.undo_email_change(token)
        except email_undo.AddressTaken:
            return render_template("accounts/email_change_undone.html", taken=True), 409
        if not undone:
            return render_template("accounts/link_expired.html", journey="undo-email"), 400
        return redirect(url_for("accounts.email_change_undone"))
    return _undo_page(form, token)


def _undo_page(form: EmptyForm, token: str) -> ResponseReturnValue:
    return form_page(
        "accounts/button_form.html",
        form,
        title="Change your email address back",
        lead="This puts back the email address this link was sent to, signs your account "
        "out everywhere and removes its password, authenticator app and passkeys. We will "
        "then email you a link to choose a new password.",
        action=url_for("accounts.undo_email_change", token=token),
        button_text="Change my email address back",
        warning=True,
        back=url_for("core.home"),
    )


@bp.get("/email-change-undone")
def email_change_undone() -> str:
    return render_template("accounts/email_change_undone.html")
