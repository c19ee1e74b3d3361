"""Helpers shared by the resident pages: rendering forms, rate limits, JSON CSRF."""

from __future__ import annotations

from typing import Any

from flask import jsonify, render_template, request
from flask.typing import ResponseReturnValue

from idservice.services import ratelimit
from idservice.web.csrf import csrf_valid
from idservice.web.forms import Form

TOO_MANY = "You have tried too many times. Wait a minute and try again"
#: Errors about the whole form (not one field) are kept under this name.
FORM_ERROR = "form"


def client_address() -> str:
    """The client's address as the app sees it (set ProxyFix in front of a proxy)."""
    return request.remote_addr or "unknown"


def form_page(
    template: str, form: Form, status: int | None = None, **context: Any
) -> ResponseReturnValue:
    """Render a question page; 400 when the answers had errors, as the contract says."""
    if status is None:
        status = 400 if form.errors else 200
    return render_template(
        template, form=form, page_has_errors=bool(form.errors), **context
    ), status


def over_limit(action: str, form: Form | None = None) -> bool:
    """Count this attempt from the client's address; True (and an error) once over."""
    if ratelimit.allow(action, client_address()):
        return False
    if form is not None:
        form.add_error(FORM_ERROR, TOO_MANY)
    return True


def json_error(message: str, status: int = 400) -> ResponseReturnValue:
    return jsonify(error=message), status


def json_csrf_ok() -> bool:
    """The passkey script sends the page's CSRF token in a header."""
    return csrf_valid(request.headers.get("X-CSRF-Token"))


def json_body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else {}
