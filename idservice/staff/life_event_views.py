"""Staff pages for Tell Us Once (life events) and for the delivery of events to partners."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from idservice.partners import status as partner_status
from idservice.services import life_events
from idservice.staff import bp, services
from idservice.staff.life_event_forms import (
    AddressChangeForm,
    DeathForm,
    MoveOutForm,
    NameChangeForm,
)
from idservice.staff.permissions import Action
from idservice.staff.views import _staff, _uk_time, _with_access, requires
from idservice.web.forms import Form
from idservice.web.pages import FORM_ERROR, form_page


@dataclass(frozen=True)
class LifeEventPage:
    title: str
    form: type[Form]
    warning: str
    button: str
    done: str


PAGES = {
    "death": LifeEventPage(
        "Tell us about a death",
        DeathForm,
        "Every service the resident holds ends, their Kent Card stops working, partner "
        "services are told and nobody can sign in to the account. This cannot be undone "
        "here.",
        "Record the death",
        "The death has been recorded. Services ended: {ended}. Partner notifications: {told}",
    ),
    "moved-out-of-kent": LifeEventPage(
        "Tell us about a move out of Kent",
        MoveOutForm,
        "Services for people who live in Kent end on the move date. The resident is sent "
        "a letter or email about it. Record the new address too, if you know it.",
        "Record the move",
        "The move out of Kent has been recorded. Services ending: {ended}",
    ),
    "name-changed": LifeEventPage(
        "Tell us about a change of name",
        NameChangeForm,
        "The new name is used by every council service. The resident is offered a new Kent "
        "Card in their new name.",
        "Record the new name",
        "The new name has been recorded",
    ),
    "address-changed": LifeEventPage(
        "Tell us about a change of address",
        AddressChangeForm,
        "The address is kept in one place: every council service uses the new one. If the "
        "new address is outside Kent, also record a move out of Kent.",
        "Record the new address",
        "The new address has been recorded",
    ),
}


def _initial(kind: str, resident: Any) -> dict[str, Any] | None:
    if kind == "name-changed":
        return {"given_name": resident.given_name, "family_name": resident.family_name}
    return None


@bp.route("/residents/<resident_id>/life-events/<kind>", methods=["GET", "POST"])
@requires(Action.RECORD_LIFE_EVENT)
@_with_access
def life_event(resident_id: str, kind: str, access: services.Access) -> ResponseReturnValue:
    page = PAGES.get(kind)
    if page is None:
        abort(404)
    staff = _staff()
    if request.method == "POST":
        form = page.form(request.form)
    else:
        view = services.view_record(staff, access, f"life event {kind}")
        if not view.resident.is_active:
            form = page.form()
            form.add_error(FORM_ERROR, "This record is closed: no life event can be recorded")
            return form_page(
                "staff/life_event.html", form, 409, page=page, kind=kind, resident_id=resident_id
            )
        form = page.form(initial=_initial(kind, view.resident))
    if form.validate():
        notifier = life_events.Notifier(
            source="staff",
            actor_id=staff.id,
            channel=access.channel,
            staff_role=staff.role,
            reason=access.reason,
            reference=form.data.get("reference"),
        )
        data = form.data
        try:
            if kind == "death":
                outcome = life_events.record_death(notifier, resident_id, data["occurred_on"])
            elif kind == "moved-out-of-kent":
                outcome = life_events.record_move_out(notifier, resident_id, data["occurred_on"])
            elif kind == "name-changed":
                outcome = life_events.record_name_change(
                    notifier,
                    resident_id,
                    data["occurred_on"],
                    data["given_name"],
                    data["family_name"],
                )
            else:
                address = {f: data.get(f) for f in life_events.ADDRESS_FIELDS}
                outcome = life_events.record_address_change(
                    notifier, resident_id, data["occurred_on"], address
                )
        except life_events.LifeEventRefused as exc:
            form.add_error(FORM_ERROR, str(exc))
        else:
            ended = ", ".join(e.service for e in outcome.ended) or "none"
            flash(page.done.format(ended=ended, told=outcome.partner_events), "success")
            return redirect(url_for("staff.record", resident_id=resident_id))
    return form_page("staff/life_event.html", form, page=page, kind=kind, resident_id=resident_id)


@bp.get("/partner-events")
@requires(Action.VIEW_PARTNER_EVENTS)
def partner_events() -> ResponseReturnValue:
    wanted = request.args.get("status") or None
    if wanted is not None and wanted not in partner_status.STATUS_NAMES:
        abort(404)
    summary = partner_status.summary(wanted)
    return render_template(
        "staff/partner_events.html",
        summary=summary,
        wanted=wanted,
        status_names=partner_status.STATUS_NAMES,
        uk_time=_uk_time,
    )
