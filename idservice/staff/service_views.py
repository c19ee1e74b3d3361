"""Staff console pages for services: the add-a-service journey for a resident (the same
steps as the resident's own pages, recorded as staff-assisted with the staff member and
channel), and the queue of requests waiting for evidence where a Gateway officer approves
or refuses. Recording a fact from a document is in ``fact_views.py``.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from entitlements.dates import long_date
from entitlements.facts import FactName
from entitlements.journey import EVIDENCE_ACCEPTED
from idservice.services import add_service, facts
from idservice.staff import bp, services
from idservice.staff.permissions import Action, allowed
from idservice.staff.service_forms import DecideRequestForm
from idservice.staff.views import _staff, _with_access, requires
from idservice.web.pages import FORM_ERROR, form_page
from idservice.web.service_journey import Journey

STEPS = {
    "list": "staff.services",
    "start": "staff.service_start",
    "question": "staff.service_question",
    "check": "staff.service_check",
    "outcome": "staff.service_outcome",
    "back": "staff.record",
    "request": "staff.decide_request",
    "not_interested": "staff.service_not_interested",
}


def _applicant(access: services.Access) -> add_service.Applicant:
    staff = _staff()
    return add_service.Applicant.staff(
        access.resident_id, staff.id, staff.role, access.channel, access.reason
    )


def _journey(access: services.Access) -> Journey:
    can_decide = allowed(_staff().role, Action.DECIDE_REQUEST)

    def url(step: str, **kw: Any) -> str:
        if step == "request" and not can_decide:
            return ""
        return url_for(STEPS[step], resident_id=access.resident_id, **kw)

    return Journey(_applicant(access), url, "staff/base.html", "Acting for the resident")


def _looked_at(access: services.Access, screen: str) -> None:
    services.view_record(_staff(), access, screen)


@bp.get("/residents/<resident_id>/services", endpoint="services")
@requires(Action.ADD_SERVICE)
@_with_access
def services_list(resident_id: str, access: services.Access) -> ResponseReturnValue:
    _looked_at(access, "services")
    return _journey(access).overview()


@bp.route(
    "/residents/<resident_id>/services/offers/<int:offer_id>/not-interested",
    methods=["GET", "POST"],
)
@requires(Action.ADD_SERVICE)
@_with_access
def service_not_interested(
    resident_id: str, offer_id: int, access: services.Access
) -> ResponseReturnValue:
    if request.method == "GET":
        _looked_at(access, "offer not interested")
    return _journey(access).not_interested(offer_id, date.today())


@bp.get("/residents/<resident_id>/services/<code>")
@requires(Action.ADD_SERVICE)
@_with_access
def service_start(resident_id: str, code: str, access: services.Access) -> ResponseReturnValue:
    _looked_at(access, f"add service {code}")
    return _journey(access).start(code, date.today())


@bp.route("/residents/<resident_id>/services/<code>/question/<fact>", methods=["GET", "POST"])
@requires(Action.ADD_SERVICE)
@_with_access
def service_question(
    resident_id: str, code: str, fact: str, access: services.Access
) -> ResponseReturnValue:
    return _journey(access).question(code, fact, date.today())


@bp.route("/residents/<resident_id>/services/<code>/check", methods=["GET", "POST"])
@requires(Action.ADD_SERVICE)
@_with_access
def service_check(resident_id: str, code: str, access: services.Access) -> ResponseReturnValue:
    if request.method == "GET":
        _looked_at(access, f"check answers {code}")
    return _journey(access).check(code, date.today())


@bp.get("/residents/<resident_id>/services/<code>/outcome")
@requires(Action.ADD_SERVICE)
@_with_access
def service_outcome(resident_id: str, code: str, access: services.Access) -> ResponseReturnValue:
    journey = _journey(access)
    link = journey.url("request", request_id="REQUEST")
    return journey.outcome(
        code, date.today(), (lambda rid: link.replace("REQUEST", rid)) if link else None
    )


@bp.get("/requests", endpoint="requests")
@requires(Action.DECIDE_REQUEST)
def requests_queue() -> ResponseReturnValue:
    staff = _staff()
    rows = add_service.waiting_requests(staff.id, staff.role)
    return render_template(
        "staff/requests.html",
        rows=rows,
        service_for=add_service.service_for,
        long_date=long_date,
        today=date.today(),
    )


@bp.route("/residents/<resident_id>/requests/<request_id>", methods=["GET", "POST"])
@requires(Action.DECIDE_REQUEST)
@_with_access
def decide_request(
    resident_id: str, request_id: str, access: services.Access
) -> ResponseReturnValue:
    applicant = _applicant(access)
    found = add_service.request_for_resident(resident_id, request_id)
    form = DecideRequestForm(request.form if request.method == "POST" else None)
    if request.method == "GET":
        _looked_at(access, "service request")
    if form.validate():
        try:
            if form.data["decision"] == "approve":
                add_service.approve(applicant, request_id, date.today())
                message = f"{add_service.service_for(found.service).name} granted"
            else:
                add_service.refuse(applicant, request_id, form.data["why"])
                message = "The request has been refused. The resident can see why"
        except add_service.ApplicationProblem as exc:
            form.add_error(FORM_ERROR, str(exc))
        else:
            flash(message, "success")
            return redirect(url_for("staff.services", resident_id=resident_id))
    service = add_service.service_for(found.service)
    plan = add_service.plan(applicant, found.service, {}, date.today())
    needs = [FactName(n) for n in found.needs if n in {f.value for f in FactName}]
    return form_page(
        "staff/decide_request.html",
        form,
        resident_id=resident_id,
        found=found,
        service=service,
        plan=plan,
        needs=needs,
        held=facts.current_shown(resident_id),
        standing=add_service.standing(plan.decision),
        still_needed=add_service.still_needed_words(plan.decision),
        fact_labels=facts.FACT_LABELS,
        evidence_accepted=EVIDENCE_ACCEPTED,
        long_date=long_date,
    )
