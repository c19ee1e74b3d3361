"""Staff console pages for "Record a fact from a document": which fact, then that fact's
own form (:mod:`idservice.staff.fact_forms`) at ``/staff/residents/<id>/facts/<fact>``.

One route serves every fact; the fact's :class:`~idservice.staff.fact_forms.FactPage`
decides the questions. The fact is stored through
:func:`idservice.services.facts.record_fact`, in one transaction with its audit record.
Opened from a request waiting for evidence (``?request=<id>``), the pages go back to it.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import abort, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue

from entitlements.facts import FactName
from idservice.services import facts
from idservice.services.evidence_types import EVIDENCE_TYPES
from idservice.staff import bp, evidence, identity, services
from idservice.staff.evidence_views import back_after_recording, with_request
from idservice.staff.fact_forms import PAGES, ChooseFactForm, expiry_from, fact_form, value_from
from idservice.staff.permissions import Action, allowed
from idservice.staff.views import _staff, _with_access, requires
from idservice.web.pages import form_page


def _page_for(fact: str) -> Any:
    try:
        return PAGES[FactName(fact)]
    except ValueError:
        abort(404)


@bp.route("/residents/<resident_id>/facts/new", methods=["GET", "POST"])
@requires(Action.RECORD_FACT)
@_with_access
def record_fact(resident_id: str, access: services.Access) -> ResponseReturnValue:
    wanted = request.args.get("fact", "")
    if request.method == "GET" and wanted in {name.value for name in PAGES}:
        return redirect(
            url_for("staff.record_fact_value", **with_request(resident_id=resident_id, fact=wanted))
        )
    form = ChooseFactForm(request.form if request.method == "POST" else None)
    if form.validate():
        return redirect(
            url_for(
                "staff.record_fact_value",
                **with_request(resident_id=resident_id, fact=form.data["fact"]),
            )
        )
    if request.method == "GET":  # the page lists the facts on the record
        services.view_record(_staff(), access, "record a fact")
    return form_page(
        "staff/record_fact.html",
        form,
        resident_id=resident_id,
        held=facts.current_shown(resident_id),
        action=url_for("staff.record_fact", **with_request(resident_id=resident_id)),
    )


@bp.route("/residents/<resident_id>/facts/<fact>", methods=["GET", "POST"])
@requires(Action.RECORD_FACT)
@_with_access
def record_fact_value(resident_id: str, fact: str, access: services.Access) -> ResponseReturnValue:
    page = _page_for(fact)
    staff = _staff()
    today = date.today()
    if request.method == "GET":
        resident = services.view_record(staff, access, f"record a fact: {fact}").resident
    else:
        resident = services.resident_for(access)
    form = fact_form(page, today, request.form if request.method == "POST" else None)
    if form.validate():
        try:
            recorded = facts.record_fact(
                resident_id,
                page.name,
                value_from(page, form, resident),
                evidence_type=form.data["evidence_type"],
                evidence_last4=identity.last4(form.data["reference"]),
                by=facts.Recorder("staff", staff.id, access.channel, staff.role, access.reason),
                expires_on=expiry_from(page, form, today),
            )
        except facts.FactRefused as exc:
            form.add_error(page.main, str(exc))
        else:
            label = facts.FACT_LABELS[page.name]
            seen = EVIDENCE_TYPES[form.data["evidence_type"]].label
            flash(
                f"{label} recorded from: {seen}"
                if recorded
                else f"{label} was already recorded as well as this",
                "success",
            )
            return back_after_recording(resident_id)
    return form_page(
        "staff/record_fact_value.html",
        form,
        resident_id=resident_id,
        page=page,
        resident=resident,
        address=evidence.address_words(resident),
        action=url_for(
            "staff.record_fact_value", **with_request(resident_id=resident_id, fact=fact)
        ),
        back=url_for("staff.record_fact", **with_request(resident_id=resident_id)),
        can_change=allowed(staff.role, Action.CHANGE_DETAILS),
        can_record_evidence=allowed(staff.role, Action.RECORD_EVIDENCE),
    )
