"""Resident account pages: sign in and out, and the account overview.

(Registration, email confirmation, password reset, details, preferences, second factors
and closing an account are added on top of this module.)
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for

from idservice.auth.levels import AMR_PASSWORD
from idservice.auth.sessions import (
    current_resident,
    end_session,
    login_required,
    safe_next_url,
    start_session,
)
from idservice.db import db_session
from idservice.services import signin
from idservice.web.forms import Field, Form

bp = Blueprint("accounts", __name__)


class SignInForm(Form):
    fields = (
        Field(
            "email",
            "Email address",
            kind="email",
            max_length=254,
            required_message="Enter your email address",
        ),
        Field(
            "password",
            "Password",
            kind="password",
            max_length=256,
            required_message="Enter your password",
            strip=False,
        ),
    )


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in() -> Any:
    next_url = safe_next_url(request.values.get("next"))
    form = SignInForm(request.form if request.method == "POST" else None)
    if form.validate():
        outcome = signin.check_password_sign_in(
            form.data["email"], form.data["password"], remote_addr=request.remote_addr or ""
        )
        if outcome.resident is not None:
            start_session(outcome.resident, AMR_PASSWORD)
            db_session.commit()
            return redirect(next_url)
        db_session.commit()
        form.add_error("email", outcome.message)
    status = 200
    if form.errors:
        status = 429 if form.errors.get("email") == signin.LOCKED else 400
    return render_template(
        "accounts/sign_in.html", form=form, next_url=next_url, page_has_errors=bool(form.errors)
    ), status


@bp.post("/sign-out")
def sign_out() -> Any:
    end_session()
    db_session.commit()
    return redirect(url_for("accounts.signed_out"))


@bp.get("/signed-out")
def signed_out() -> str:
    return render_template("accounts/signed_out.html")


@bp.get("/account")
@login_required
def account() -> str:
    return render_template("accounts/account.html", resident=current_resident())


@bp.get("/register")
def register() -> str:
    return render_template("accounts/register.html")
