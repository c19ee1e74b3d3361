"""Changing details and preferences, the email address and password, and closing the
account. Each question page follows the same pattern: the current answer filled in, the
change saved through ``services/accounts.py`` (which audits it), back to the overview with
a success banner.

Changing the email address or phone number needs a recent authentication
(:mod:`idservice.auth.reauth`). Changing the password and closing the account ask for the
password on the form itself, which is stricter still.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from idservice.auth.reauth import reauth_response, recent_auth_required, restore_typed
from idservice.auth.sessions import current_resident, login_required
from idservice.models.residents import ALTERNATIVE_FORMATS, LANGUAGES, Resident
from idservice.services import accounts, reevaluation
from idservice.services.residents import dao_get_resident_by_id
from idservice.web.accounts import bp
from idservice.web.forms import Field, Form, current_password_field
from idservice.web.pages import form_page
from idservice.web.registration import (
    NewPasswordMixin,
    address_fields,
    date_of_birth_field,
    email_field,
    name_fields,
    new_password_fields,
    phone_field,
)

YES_NO = {"yes": "Yes", "no": "No"}


class NameForm(Form):
    fields = name_fields()


class DateOfBirthForm(Form):
    fields = (date_of_birth_field(),)


class AddressForm(Form):
    fields = address_fields()


class PhoneForm(Form):
    fields = (phone_field(),)


class LanguageForm(Form):
    fields = (
        Field(
            "language",
            "Which language should we use when we contact you?",
            kind="radios",
            choices=LANGUAGES,
            required_message="Select the language we should use",
        ),
    )


class FormatsForm(Form):
    fields = (
        Field(
            "alternative_formats",
            "Which formats do you need letters and documents in?",
            kind="checkboxes",
            required=False,
            choices=ALTERNATIVE_FORMATS,
            hint="Select all that apply. Leave them all unselected if standard print suits you",
        ),
    )


class TextRelayForm(Form):
    fields = (
        Field(
            "text_relay",
            "Should we use Text Relay when we phone you?",
            kind="radios",
            choices=YES_NO,
            hint="Text Relay lets people who are deaf, hard of hearing or speech-impaired "
            "make and receive phone calls using text",
            required_message="Select yes if we should use Text Relay",
        ),
    )


class EmailForm(Form):
    fields = (email_field("New email address", hint="We will send a link to confirm it"),)


class PasswordForm(NewPasswordMixin):
    fields = (
        current_password_field("Current password", "current_password"),
        *new_password_fields("New password"),
    )


class CloseAccountForm(Form):
    fields = (current_password_field("Enter your password to confirm"),)


@dataclass(frozen=True)
class ChangePage:
    """One "Change" link on the account overview."""

    title: str
    form: type[Form]
    caption: str = "Your details"

    def initial(self, resident: Resident) -> dict[str, Any]:
        values = {f.name: getattr(resident, f.name) for f in self.form.fields}
        if "text_relay" in values:
            values["text_relay"] = "yes" if values["text_relay"] else "no"
        return values

    @staticmethod
    def changes(data: dict[str, Any]) -> dict[str, Any]:
        changes = dict(data)
        if "text_relay" in changes:
            changes["text_relay"] = changes["text_relay"] == "yes"
        if "alternative_formats" in changes and changes["alternative_formats"] is None:
            changes["alternative_formats"] = []
        return changes


#: Change pages that need a recent authentication: a phone number can receive calls
#: from the contact centre about the account.
SENSITIVE_CHANGES = frozenset({"phone"})

CHANGE_PAGES = {
    "name": ChangePage("Change your name", NameForm),
    "date-of-birth": ChangePage("Change your date of birth", DateOfBirthForm),
    "address": ChangePage("Change your address", AddressForm),
    "phone": ChangePage("Change your phone number", PhoneForm),
    "language": ChangePage("Change your language", LanguageForm, "Your preferences"),
    "alternative-formats": ChangePage(
        "Change the formats you need", FormatsForm, "Your preferences"
    ),
    "text-relay": ChangePage(
        "Change your Text Relay preference", TextRelayForm, "Your preferences"
    ),
}


def _resident() -> Resident:
    resident = current_resident()
    assert resident is not None  # login_required
    return dao_get_resident_by_id(resident.id)


@bp.route("/account/change/<slug>", methods=["GET", "POST"])
@login_required
def change_details(slug: str) -> ResponseReturnValue:
    page = CHANGE_PAGES.get(slug)
    if page is None:
        abort(404)
    if slug in SENSITIVE_CHANGES:
        confirm_first = reauth_response()
        if confirm_first is not None:
            return confirm_first
    resident = _resident()
    if request.method == "POST":
        form = page.form(request.form)
    else:
        form = page.form(initial=page.initial(resident))
        restore_typed(form)
    if form.validate():
        changed = accounts.update_details(resident.id, page.changes(form.data))
        flash(
            "Your changes have been saved" if changed else "You did not change anything", "success"
        )
        follows = reevaluation.consequences(reevaluation.taken_result(resident.id))
        if follows:
            flash(" ".join(follows), "important")
        return redirect(url_for("accounts.account"))
    return form_page("accounts/change_details.html", form, page=page, slug=slug)


@bp.route("/account/change/email", methods=["GET", "POST"])
@recent_auth_required
def change_email() -> ResponseReturnValue:
    resident = _resident()
    form = EmailForm(request.form if request.method == "POST" else None)
    restore_typed(form)
    if form.validate():
        if form.data["email"] == resident.email:
            form.add_error("email", "Enter a different email address from the one you use now")
        else:
            accounts.request_email_change(resident.id, form.data["email"])
            return redirect(url_for("accounts.change_email_sent"))
    return form_page("accounts/change_email.html", form)


@bp.get("/account/change/email/check-your-email")
@login_required
def change_email_sent() -> str:
    return render_template("accounts/check_email.html", journey="change-email")


@bp.get("/confirm-new-email/<token>")
def confirm_email_change(token: str) -> ResponseReturnValue:
    if not accounts.confirm_email_change(token):
        return render_template("accounts/link_expired.html", journey="change-email"), 400
    return render_template("accounts/email_changed.html")


@bp.route("/account/change/password", methods=["GET", "POST"])
@login_required
def change_password() -> ResponseReturnValue:
    resident = _resident()
    form = PasswordForm(request.form if request.method == "POST" else None)
    if form.validate():
        if accounts.change_password(
            resident.id, form.data["current_password"], form.data["password"]
        ):
            flash(
                "Your password has been changed. You have been signed out everywhere else",
                "success",
            )
            return redirect(url_for("accounts.account"))
        form.add_error("current_password", "Your current password is not correct")
    return form_page("accounts/change_password.html", form)


@bp.route("/account/close", methods=["GET", "POST"])
@login_required
def close_account() -> ResponseReturnValue:
    resident = _resident()
    form = CloseAccountForm(request.form if request.method == "POST" else None)
    if form.validate():
        if accounts.close_account(resident.id, form.data["password"]):
            return redirect(url_for("accounts.account_closed"))
        form.add_error("password", "Your password is not correct")
    return form_page("accounts/close_account.html", form)


@bp.get("/account/closed")
def account_closed() -> str:
    return render_template("accounts/account_closed.html")
