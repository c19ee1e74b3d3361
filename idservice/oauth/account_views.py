"""The resident's side of consent: see and withdraw what each service receives."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from idservice.auth.sessions import current_resident, login_required
from idservice.oauth import consents
from idservice.web.csrf import CSRF_FIELD, csrf_valid

bp = Blueprint("connected_services", __name__)


@bp.get("/account/connected-services")
@login_required
def connected_services() -> ResponseReturnValue:
    resident = current_resident()
    assert resident is not None
    return render_template(
        "oauth/connected_services.html", services=consents.connected_services(resident.id)
    )


@bp.post("/account/connected-services/<client_id>/withdraw")
@login_required
def withdraw(client_id: str) -> ResponseReturnValue:
    resident = current_resident()
    assert resident is not None
    if not csrf_valid(request.form.get(CSRF_FIELD)):
        flash("This page had expired. Select the button again to stop sharing.", "important")
        return redirect(url_for("connected_services.connected_services"))
    name = consents.withdraw_consent(resident, client_id)  # NotFound: a 404
    flash(f"{name} can no longer use your Kent account.", "success")
    return redirect(url_for("connected_services.connected_services"))
