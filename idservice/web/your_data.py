"""Your data: download a copy of everything held about you, or ask for it to be erased."""

from __future__ import annotations

from flask import Response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from idservice.auth.sessions import current_resident, end_session, login_required
from idservice.services import your_data
from idservice.validation import ValidationError
from idservice.web.accounts import bp
from idservice.web.forms import Field, Form, current_password_field
from idservice.web.pages import FORM_ERROR, form_page


class DownloadForm(Form):
    fields = ()


def _confirmed(ticked: bool) -> bool:
    if not ticked:
        raise ValidationError("Confirm that you understand your account will be erased")
    return ticked


class EraseForm(Form):
    fields = (
        Field(
            "understood",
            "I understand my account, Kent Card and services end, and this cannot be undone",
            kind="checkbox",
            check=_confirmed,
        ),
        current_password_field(),
    )


def _resident_id() -> str:
    resident = current_resident()
    assert resident is not None  # login_required
    return resident.id


@bp.route("/account/your-data", methods=["GET", "POST"])
@login_required
def your_data_page() -> ResponseReturnValue:
    form = DownloadForm(request.form if request.method == "POST" else None)
    if form.validate():
        body = your_data.download(_resident_id())
        return Response(
            body,
            mimetype="application/json",
            headers={
                "Content-Disposition": 'attachment; filename="kent-account-your-data.json"',
                "Cache-Control": "no-store",
            },
        )
    return form_page("accounts/your_data.html", form)


@bp.route("/account/your-data/erase", methods=["GET", "POST"])
@login_required
def erase_your_data() -> ResponseReturnValue:
    form = EraseForm(request.form if request.method == "POST" else None)
    if form.validate():
        try:
            erased = your_data.erase(_resident_id(), password=form.data["password"])
        except your_data.ErasureRefused as exc:
            form.add_error(FORM_ERROR, str(exc))
        else:
            if erased:
                end_session()
                return redirect(url_for("accounts.data_erased"))
            form.add_error("password", "Your password is not correct")
    return form_page("accounts/erase_your_data.html", form)


@bp.get("/account/erased")
def data_erased() -> str:
    return render_template("accounts/data_erased.html")
