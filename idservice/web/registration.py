"""Creating an account, confirming the email address and resetting a forgotten password.

The pages shown after registering and after asking for a reset are the same whether or
not the address already has an account (see ``services/registration.py``).
"""

from __future__ import annotations

from flask import redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from idservice import validation
from idservice.auth.sessions import current_resident, login_required
from idservice.services import ratelimit, registration
from idservice.web.accounts import EmptyForm, bp
from idservice.web.forms import Field, Form
from idservice.web.pages import form_page, over_limit

CHOOSING_A_GOOD_ONE = (
    "Use 10 characters or more. Three or more random words make a strong password "
    "that is easy to remember"
)


def name_fields() -> tuple[Field, ...]:
    return (
        Field.from_rule("given_name", validation.GIVEN_NAME, autocomplete="given-name"),
        Field.from_rule("family_name", validation.FAMILY_NAME, autocomplete="family-name"),
    )


def date_of_birth_field() -> Field:
    return Field.from_rule("date_of_birth", validation.DATE_OF_BIRTH, hint="For example, 27 3 1985")


def address_fields() -> tuple[Field, ...]:
    return (
        Field.from_rule("address_line_1", validation.ADDRESS_LINE_1, autocomplete="address-line1"),
        Field.from_rule(
            "address_line_2",
            validation.ADDRESS_LINE_2,
            required=False,
            required_message=None,
            autocomplete="address-line2",
        ),
        Field.from_rule("town", validation.TOWN, autocomplete="address-level2", width="20"),
        Field.from_rule("postcode", validation.POSTCODE, autocomplete="postal-code", width="10"),
    )


def email_field(label: str = "Email address", hint: str | None = None) -> Field:
    return Field.from_rule("email", validation.EMAIL, label=label, hint=hint, autocomplete="email")


def phone_field() -> Field:
    return Field.from_rule(
        "phone",
        validation.PHONE,
        required=False,
        required_message=None,
        hint="For example, 01632 960 001 or 07700 900 982. We only use it about your account",
        autocomplete="tel",
        width="20",
    )


def new_password_fields(label: str = "Create a password") -> tuple[Field, ...]:
    return (
        Field(
            "password",
            label,
            kind="password",
            max_length=256,
            hint=CHOOSING_A_GOOD_ONE,
            required_message="Enter a password",
            check=validation.check_password,
            strip=False,
            autocomplete="new-password",
        ),
        Field(
            "password_confirm",
            "Confirm your password",
            kind="password",
            max_length=256,
            required_message="Confirm your password",
            strip=False,
            autocomplete="new-password",
        ),
    )


class NewPasswordMixin(Form):
    def validate_form(self) -> None:
        if self.data.get("password") != self.data.get("password_confirm"):
            self.add_error("password_confirm", "Passwords must match")


class RegisterForm(NewPasswordMixin):
    fields = (
        *name_fields(),
        date_of_birth_field(),
        *address_fields(),
        email_field(hint="We will send you a link to confirm it"),
        phone_field(),
        *new_password_fields(),
    )


class ForgotPasswordForm(Form):
    fields = (email_field(),)


class ResetPasswordForm(NewPasswordMixin):
    fields = new_password_fields("New password")


@bp.route("/register", methods=["GET", "POST"])
def register() -> ResponseReturnValue:
    form = RegisterForm(request.form if request.method == "POST" else None)
    status = None
    if form.submitted and over_limit(ratelimit.REGISTER, form):
        status = 429
    elif form.validate():
        data = {k: v for k, v in form.data.items() if k != "password_confirm"}
        registration.register(registration.Registration(**data))
        return redirect(url_for("accounts.register_check_email"))
    return form_page("accounts/register.html", form, status)


@bp.get("/register/check-your-email")
def register_check_email() -> str:
    return render_template("accounts/check_email.html", journey="register")


@bp.get("/confirm-email/<token>")
def confirm_email(token: str) -> ResponseReturnValue:
    outcome = registration.confirm_email(token)
    if not outcome.ok:
        return render_template("accounts/link_expired.html", journey="confirm"), 400
    return render_template("accounts/email_confirmed.html", already=outcome.already)


@bp.post("/account/confirm-email/resend")
@login_required
def resend_confirmation() -> ResponseReturnValue:
    form = EmptyForm(request.form)
    if not form.validate():
        return form_page(
            "accounts/button_form.html",
            form,
            title="Send the confirmation email again",
            action=url_for("accounts.resend_confirmation"),
            button_text="Send the email again",
        )
    resident = current_resident()
    assert resident is not None
    registration.resend_confirmation(resident.id)
    return redirect(url_for("accounts.resend_confirmation_sent"))


@bp.get("/account/confirm-email/sent")
@login_required
def resend_confirmation_sent() -> str:
    return render_template("accounts/check_email.html", journey="resend")


@bp.route("/forgot-password", methods=["GET", "POST"])
def forgot_password() -> ResponseReturnValue:
    form = ForgotPasswordForm(request.form if request.method == "POST" else None)
    status = None
    if form.submitted and over_limit(ratelimit.RESET, form):
        status = 429
    elif form.validate():
        registration.request_password_reset(form.data["email"])
        return redirect(url_for("accounts.forgot_password_sent"))
    return form_page("accounts/forgot_password.html", form, status)


@bp.get("/forgot-password/check-your-email")
def forgot_password_sent() -> str:
    return render_template("accounts/check_email.html", journey="reset")


@bp.route("/reset-password/<token>", methods=["GET", "POST"])
def reset_password(token: str) -> ResponseReturnValue:
    if registration.resident_for_reset(token) is None:
        return render_template("accounts/link_expired.html", journey="reset"), 400
    form = ResetPasswordForm(request.form if request.method == "POST" else None)
    status = None
    if form.submitted and over_limit(ratelimit.RESET, form):
        status = 429
    elif form.validate():
        if registration.reset_password(token, form.data["password"]):
            return redirect(url_for("accounts.password_reset_done"))
        return render_template("accounts/link_expired.html", journey="reset"), 400
    return form_page("accounts/reset_password.html", form, status)


@bp.get("/reset-password/done")
def password_reset_done() -> str:
    return render_template("accounts/password_reset_done.html")
