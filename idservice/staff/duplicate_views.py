"""Staff console pages for possible duplicates: the list of open pairs, and one pair side
by side with "Not the same person" (with a reason) and a link to merge the two records.

Only roles with ``Action.RESOLVE_DUPLICATES`` see them. Opening a pair is a look at both
records, audited on each (``services.duplicates.review``); so is resolving it.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from idservice.models.duplicates import DUPLICATE_OPEN
from idservice.services import duplicates
from idservice.staff import bp, identity
from idservice.staff.forms import NotSamePersonForm
from idservice.staff.permissions import Action
from idservice.staff.views import _staff, requires
from idservice.web.pages import FORM_ERROR, form_page

#: What a pair's channel means, for the list.
CHANNEL_WORDS = {
    "web": "Registered online",
    "face-to-face": "Registered face to face",
    "phone": "Registered by phone",
    "staff-assisted": "Registered with staff help",
    "system": "Registered by the service",
}


def merge_url(existing_id: str, new_id: str) -> str:
    """The merge page for the pair (the surviving record is the older one)."""
    return f"{url_for('staff.home')}residents/{existing_id}/merge?with={new_id}"


@bp.get("/duplicates", endpoint="duplicates")
@requires(Action.RESOLVE_DUPLICATES)
def duplicates_list() -> ResponseReturnValue:
    staff = _staff()
    return render_template(
        "staff/duplicates.html",
        items=duplicates.listed_queue(staff.id, staff.role),
        channel_words=CHANNEL_WORDS,
    )


@bp.route("/duplicates/<duplicate_id>", methods=["GET", "POST"], endpoint="duplicate")
@requires(Action.RESOLVE_DUPLICATES)
def duplicate_pair(duplicate_id: str) -> ResponseReturnValue:
    staff = _staff()
    form = NotSamePersonForm(request.form if request.method == "POST" else None)
    if form.validate():
        try:
            duplicates.resolve_not_same(staff.id, staff.role, duplicate_id, form.data["note"])
        except duplicates.AlreadyResolved as exc:
            form.add_error(FORM_ERROR, str(exc))
        else:
            flash("Recorded: these are two different people. Both records stay", "success")
            return redirect(url_for("staff.duplicates"))
    shown = duplicates.review(staff.id, staff.role, duplicate_id)
    pair = shown.duplicate
    return form_page(
        "staff/duplicate.html",
        form,
        shown=shown,
        is_open=pair.status == DUPLICATE_OPEN,
        merge=merge_url(pair.existing_resident_id, pair.new_resident_id),
        channel_words=CHANNEL_WORDS,
        level_names=identity.LEVEL_NAMES,
    )
