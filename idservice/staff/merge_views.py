"""Staff pages for merging two records of one person, and undoing a merge.

``/staff/residents/<kept>/merge?with=<other>`` shows both records side by side and what
will move (the review of records that may be one person links here); the form under it merges with
a reason. ``/staff/merges/<id>`` says what moved and until when it can be undone;
``/staff/merges/<id>/undo`` undoes it. All need ``merge-records`` and the record kept
opened (channel and reason), as every page inside a record does.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from idservice.models.staff import StaffMember
from idservice.services import merges, unmerge
from idservice.services.merge_steps import StaffActor, dao_get_merge
from idservice.staff import bp, identity, services
from idservice.staff.merge_forms import OTHER, FindOtherForm, MergeForm, UnmergeForm
from idservice.staff.merge_words import moved_lines, plan_lines, undo_lines
from idservice.staff.permissions import Action
from idservice.staff.views import _access, _staff, _uk_time, open_first, requires
from idservice.web.pages import FORM_ERROR, form_page


def _actor(staff: StaffMember, access: services.Access, reason: str | None) -> StaffActor:
    return StaffActor(staff.id, staff.role, access.channel, reason or "")


def _find_page(
    form: FindOtherForm, resident_id: str, status: int | None = None
) -> ResponseReturnValue:
    return form_page(
        "staff/merge_find.html",
        form,
        status,
        resident_id=resident_id,
        undo_days=merges.undo_days(),
    )


@bp.route("/residents/<resident_id>/merge", methods=["GET", "POST"])
@requires(Action.MERGE_RECORDS)
def merge_records(resident_id: str) -> ResponseReturnValue:
    services.require_resident(resident_id)
    access = _access(resident_id)
    if access is None:
        return open_first(resident_id)
    staff = _staff()
    source = request.form if request.method == "POST" else request.args
    other = source.get(OTHER)
    if other is None:
        return _find_page(FindOtherForm(), resident_id)
    find = FindOtherForm({OTHER: other})
    if not find.validate():
        return _find_page(find, resident_id)
    other_id = find.data[OTHER]
    form = MergeForm(request.form if request.method == "POST" else None)
    if form.validate():
        try:
            done = merges.merge(_actor(staff, access, form.data["reason"]), resident_id, other_id)
        except merges.MergeRefused as exc:
            find.add_error(exc.field or FORM_ERROR, str(exc))
            return _find_page(find, resident_id, 409)
        flash("The records have been merged", "success")
        return redirect(url_for("staff.merge_done", merge_id=done.id))
    try:
        plan = merges.compare(_actor(staff, access, access.reason), resident_id, other_id)
    except merges.MergeRefused as exc:
        find.add_error(exc.field or FORM_ERROR, str(exc))
        return _find_page(find, resident_id)
    return form_page(
        "staff/merge.html",
        form,
        plan=plan,
        lines=plan_lines(plan),
        resident_id=resident_id,
        other_id=other_id,
        undo_days=merges.undo_days(),
        level_names=identity.LEVEL_NAMES,
        swap_url=url_for("staff.merge_records", resident_id=other_id) + f"?{OTHER}={resident_id}",
    )


@dataclass(frozen=True)
class _MergeScreen:
    view: unmerge.MergeView
    access: services.Access


def _merge_view(merge_id: str, screen: str) -> _MergeScreen | ResponseReturnValue:
    """The merge and the access to the record kept, or a redirect to open the record."""
    survivor_id = dao_get_merge(merge_id).survivor_id  # NotFound: a 404
    access = _access(survivor_id)
    if access is None:
        return open_first(survivor_id)
    staff = _staff()
    view = unmerge.look(_actor(staff, access, access.reason), merge_id, screen)
    return _MergeScreen(view, access)


@bp.get("/merges/<merge_id>")
@requires(Action.MERGE_RECORDS)
def merge_done(merge_id: str) -> ResponseReturnValue:
    found = _merge_view(merge_id, "merge summary")
    if not isinstance(found, _MergeScreen):
        return found
    view = found.view
    return render_template(
        "staff/merged.html",
        view=view,
        lines=moved_lines(view.merge.moved),
        undo_problems=undo_lines(view.merge.undo or {}),
        uk_time=_uk_time,
    )


@bp.route("/merges/<merge_id>/undo", methods=["GET", "POST"])
@requires(Action.MERGE_RECORDS)
def undo_merge(merge_id: str) -> ResponseReturnValue:
    found = _merge_view(merge_id, "undo merge")
    if not isinstance(found, _MergeScreen):
        return found
    view, access = found.view, found.access
    form = UnmergeForm(request.form if request.method == "POST" else None)
    status = None
    if view.refusal is None and form.validate():
        actor = _actor(_staff(), access, form.data["reason"])
        try:
            unmerge.unmerge(actor, merge_id)
        except merges.UnmergeRefused as exc:
            form.add_error(FORM_ERROR, str(exc))
            status = 409
        else:
            flash("The merge has been undone: the two records are separate again", "success")
            return redirect(url_for("staff.merge_done", merge_id=merge_id))
    elif view.refusal is not None and form.submitted:
        form.add_error(FORM_ERROR, view.refusal)
        status = 409
    return form_page(
        "staff/unmerge.html",
        form,
        status,
        view=view,
        lines=moved_lines(view.merge.moved),
        uk_time=_uk_time,
    )
