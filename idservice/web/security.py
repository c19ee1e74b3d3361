"""Second factors and step-up: authenticator app setup, passkeys, and raising the level of
a signed-in session when a service asks for more (``/sign-in/step-up``).

Adding an authenticator app and adding or removing a passkey need a recent authentication
(:mod:`idservice.auth.reauth`); removing the authenticator app asks for the password on
the form itself.
"""

from __future__ import annotations

from flask import flash, jsonify, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue

from idservice.auth.levels import ACR_CARD_PIN, ACR_MFA, ACR_VALUES_SUPPORTED, satisfies
from idservice.auth.reauth import recent_auth_json, recent_auth_required
from idservice.auth.sessions import current_resident, current_session, login_required, safe_next_url
from idservice.models.residents import Resident
from idservice.services import passkeys, ratelimit, signin, totp
from idservice.services.residents import dao_get_resident_by_id
from idservice.web.accounts import CodeForm, EmptyForm, bp
from idservice.web.forms import Form, current_password_field
from idservice.web.pages import form_page, json_body, json_csrf_ok, json_error, over_limit

EXPIRED_JSON = "This page has expired. Reload the page and try again"
#: Session key of the authenticator app secret being set up (sealed).
PENDING_TOTP = "totp_pending"


class TurnOffForm(Form):
    fields = (current_password_field("Enter your password to confirm"),)


def _resident() -> Resident:
    resident = current_resident()
    assert resident is not None  # login_required
    return dao_get_resident_by_id(resident.id)


@bp.get("/account/security")
@login_required
def security() -> str:
    resident = _resident()
    return render_template(
        "accounts/security.html", resident=resident, passkeys=passkeys.dao_get_passkeys(resident.id)
    )


def _pending_totp_secret(resident_id: str) -> str:
    """The secret being set up: kept sealed in the session (never stored until confirmed),
    so a reload shows the same one and the app already set up still matches."""
    secret = totp.open_pending(resident_id, session.get(PENDING_TOTP))
    if secret is None:
        secret = totp.new_secret()
        session[PENDING_TOTP] = totp.seal_pending(resident_id, secret)
    return secret


@bp.route("/account/security/authenticator-app", methods=["GET", "POST"])
@recent_auth_required
def totp_setup() -> ResponseReturnValue:
    resident = _resident()
    if resident.totp_enabled_at is not None:
        return redirect(url_for("accounts.security"))
    secret = _pending_totp_secret(resident.id)
    form = CodeForm(request.form if request.method == "POST" else None)
    status = None
    if form.submitted and over_limit(ratelimit.ONE_TIME_CODE, form):
        status = 429
    elif form.validate():
        if totp.confirm_setup(resident.id, secret, form.data["code"]):
            session.pop(PENDING_TOTP, None)
            flash(
                "Your authenticator app is set up. You will need a code from it to sign in",
                "success",
            )
            return redirect(url_for("accounts.security"))
        form.add_error("code", "The code is not correct. Enter the code your app shows now")
    return form_page(
        "accounts/totp_setup.html",
        form,
        status,
        secret=totp.grouped_secret(secret),
        uri=totp.provisioning_uri(resident, secret),
    )


@bp.route("/account/security/authenticator-app/turn-off", methods=["GET", "POST"])
@login_required
def totp_turn_off() -> ResponseReturnValue:
    resident = _resident()
    if resident.totp_enabled_at is None:
        return redirect(url_for("accounts.security"))
    form = TurnOffForm(request.form if request.method == "POST" else None)
    if form.validate():
        if totp.turn_off(resident.id, form.data["password"]):
            flash("Your authenticator app has been removed", "success")
            return redirect(url_for("accounts.security"))
        form.add_error("password", "Your password is not correct")
    return form_page("accounts/totp_turn_off.html", form)


def _security_page() -> str:
    return url_for("accounts.security")


@bp.post("/account/security/passkeys/options")
@recent_auth_json(_security_page)
def passkey_register_options() -> ResponseReturnValue:
    if not json_csrf_ok():
        return json_error(EXPIRED_JSON)
    options = passkeys.registration_options(_resident())
    return options, 200, {"Content-Type": "application/json"}


@bp.post("/account/security/passkeys/verify")
@recent_auth_json(_security_page)
def passkey_register_verify() -> ResponseReturnValue:
    if not json_csrf_ok():
        return json_error(EXPIRED_JSON)
    try:
        passkeys.finish_registration(_resident().id, json_body())
    except passkeys.PasskeyError as exc:
        return json_error(str(exc))
    flash("Your passkey has been added. You can use it to sign in", "success")
    return jsonify(redirect=url_for("accounts.security"))


@bp.route("/account/security/passkeys/<int:passkey_id>/remove", methods=["GET", "POST"])
@recent_auth_required
def passkey_remove(passkey_id: int) -> ResponseReturnValue:
    resident = _resident()
    form = EmptyForm(request.form if request.method == "POST" else None)
    if form.validate():
        if passkeys.remove(resident.id, passkey_id):
            flash("Your passkey has been removed", "success")
        return redirect(url_for("accounts.security"))
    return form_page(
        "accounts/button_form.html",
        form,
        title="Remove a passkey",
        lead="You will not be able to sign in with this passkey any more.",
        action=url_for("accounts.passkey_remove", passkey_id=passkey_id),
        button_text="Remove passkey",
        warning=True,
        back=url_for("accounts.security"),
    )


def _requested_acr() -> str:
    acr = request.args.get("acr", "")
    return acr if acr in ACR_VALUES_SUPPORTED else ACR_MFA


@bp.route("/sign-in/step-up", methods=["GET", "POST"])
@login_required
def step_up() -> ResponseReturnValue:
    """Ask a signed-in resident for a second factor, then go back to the service."""
    next_url = safe_next_url(request.args.get("next"))
    acr = _requested_acr()
    record = current_session()
    if record is not None and satisfies(record.acr, [acr]) and request.method == "GET":
        return redirect(next_url)
    resident = _resident()
    form = CodeForm(request.form if request.method == "POST" else None)
    status = None
    if acr == ACR_CARD_PIN:  # only the card will do: the page sends the resident to it
        if form.submitted:
            status = 400
    elif resident.totp_enabled_at is not None:
        if form.submitted and over_limit(ratelimit.ONE_TIME_CODE, form):
            status = 429
        elif form.validate():
            message = signin.step_up_with_code(resident, form.data["code"])
            if not message:
                return redirect(next_url)
            form.add_error("code", message)
            status = 429 if message == signin.LOCKED else 400
    elif form.submitted:
        status = 400
    return form_page(
        "accounts/step_up.html",
        form,
        status,
        resident=resident,
        has_passkeys=bool(passkeys.dao_get_passkeys(resident.id)),
        next_url=next_url,
        acr=acr,
        card_needed=acr == ACR_CARD_PIN,
    )


@bp.post("/sign-in/step-up/passkey/options")
@login_required
def step_up_passkey_options() -> ResponseReturnValue:
    if not json_csrf_ok():
        return json_error(EXPIRED_JSON)
    if over_limit(ratelimit.PASSKEY):
        return json_error("You have tried too many times. Wait a minute and try again", 429)
    options = passkeys.authentication_options(passkeys.STEP_UP, _resident())
    return options, 200, {"Content-Type": "application/json"}


@bp.post("/sign-in/step-up/passkey/verify")
@login_required
def step_up_passkey_verify() -> ResponseReturnValue:
    if not json_csrf_ok():
        return json_error(EXPIRED_JSON)
    resident = _resident()
    try:
        passkeys.verify_authentication(json_body(), passkeys.STEP_UP, resident.id)
    except passkeys.PasskeyError as exc:
        return json_error(str(exc))
    signin.step_up_with_passkey(resident)
    return jsonify(redirect=safe_next_url(request.args.get("next")))
