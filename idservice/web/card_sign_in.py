"""Card + PIN sign-in pages (``/sign-in/card``), for library PCs and kiosks.

No JavaScript needed: the waiting page has a "Continue" button. The browser's part of the
challenge (a random secret) lives in its session cookie; see
:mod:`idservice.services.card_signin` for the whole flow.
"""

from __future__ import annotations

import time

from flask import redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue

from idservice.auth.sessions import safe_next_url
from idservice.services import card_signin, ratelimit
from idservice.web.accounts import EmptyForm, bp
from idservice.web.pages import form_page, over_limit

#: In the session: which card sign-in this browser is waiting for, and where to go next.
CARD_KEY = "card_sign_in"


@bp.route("/sign-in/card", methods=["GET", "POST"])
def card_sign_in() -> ResponseReturnValue:
    next_url = safe_next_url(request.values.get("next"))
    form = EmptyForm(request.form if request.method == "POST" else None)
    status = None
    if form.submitted and over_limit(ratelimit.SIGN_IN, form):
        status = 429
    elif form.validate():
        row, secret = card_signin.start()
        session[CARD_KEY] = {"id": row.id, "secret": secret, "next": next_url, "at": time.time()}
        return redirect(url_for("accounts.card_sign_in_wait"))
    return form_page("accounts/card_sign_in.html", form, status, next_url=next_url)


@bp.route("/sign-in/card/wait", methods=["GET", "POST"])
def card_sign_in_wait() -> ResponseReturnValue:
    """Shows the code for the reader; "Continue" signs the browser in once the card answered."""
    waiting = session.get(CARD_KEY)
    if not isinstance(waiting, dict):
        return redirect(url_for("accounts.card_sign_in"))
    form = EmptyForm(request.form if request.method == "POST" else None)
    if form.submitted and not form.validate():
        return _wait_page(form, None, status=400)
    view = card_signin.complete(str(waiting.get("id")), str(waiting.get("secret")))
    if view is None:
        session.pop(CARD_KEY, None)
        return redirect(url_for("accounts.card_sign_in"))
    if view.status == "completed":  # the session was renewed: CARD_KEY went with it
        return redirect(safe_next_url(waiting.get("next")))
    if view.status != "pending":
        session.pop(CARD_KEY, None)
        return _wait_page(form, view, status=400, next_url=safe_next_url(waiting.get("next")))
    return _wait_page(form, view)


def _wait_page(
    form: EmptyForm,
    view: card_signin.BrowserView | None,
    status: int | None = None,
    next_url: str | None = None,
) -> ResponseReturnValue:
    if view is None:
        return form_page("accounts/card_sign_in_wait.html", form, status, view=None)
    return (
        render_template(
            "accounts/card_sign_in_wait.html",
            form=form,
            view=view,
            page_has_errors=False,  # an outcome, not a mistake in a form
            next_url=next_url,
        ),
        status or 200,
    )
