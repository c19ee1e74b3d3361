"""The resident's services: what they hold, what they can add, and their requests.

Routes on the accounts blueprint; the journey's steps are in :mod:`service_journey`,
shared with the staff console.
"""

from __future__ import annotations

from datetime import date

from flask import flash, redirect, request, url_for
from flask.typing import ResponseReturnValue

from entitlements.dates import long_date
from entitlements.facts import FactName
from entitlements.journey import EVIDENCE_ACCEPTED
from idservice.auth.sessions import current_resident, login_required
from idservice.services import add_service, facts
from idservice.web.accounts import bp
from idservice.web.pages import FORM_ERROR, form_page
from idservice.web.service_journey import Journey, WithdrawForm

STEPS = {
    "list": "accounts.services",
    "start": "accounts.service_start",
    "question": "accounts.service_question",
    "check": "accounts.service_check",
    "outcome": "accounts.service_outcome",
    "request": "accounts.service_request",
    "not_interested": "accounts.service_not_interested",
}


def _journey() -> Journey:
    resident = current_resident()
    assert resident is not None  # login_required
    return Journey(
        add_service.Applicant.resident(resident.id),
        lambda step, **kw: url_for(STEPS[step], **kw),
        "base.html",
        "Your services",
    )


@bp.get("/account/services")
@login_required
def services() -> ResponseReturnValue:
    return _journey().overview()


@bp.route("/account/services/offers/<int:offer_id>/not-interested", methods=["GET", "POST"])
@login_required
def service_not_interested(offer_id: int) -> ResponseReturnValue:
    return _journey().not_interested(offer_id, date.today())


@bp.get("/account/services/<code>")
@login_required
def service_start(code: str) -> ResponseReturnValue:
    return _journey().start(code, date.today())


@bp.route("/account/services/<code>/question/<fact>", methods=["GET", "POST"])
@login_required
def service_question(code: str, fact: str) -> ResponseReturnValue:
    return _journey().question(code, fact, date.today())


@bp.route("/account/services/<code>/check", methods=["GET", "POST"])
@login_required
def service_check(code: str) -> ResponseReturnValue:
    return _journey().check(code, date.today())


@bp.get("/account/services/<code>/outcome")
@login_required
def service_outcome(code: str) -> ResponseReturnValue:
    return _journey().outcome(
        code, date.today(), lambda rid: url_for("accounts.service_request", request_id=rid)
    )


@bp.route("/account/services/requests/<request_id>", methods=["GET", "POST"])
@login_required
def service_request(request_id: str) -> ResponseReturnValue:
    journey = _journey()
    applicant = journey.applicant
    found = add_service.request_for_resident(applicant.resident_id, request_id)
    form = WithdrawForm(request.form if request.method == "POST" else None)
    if form.validate():
        try:
            add_service.withdraw(applicant, request_id)
        except add_service.ApplicationProblem as exc:
            form.add_error(FORM_ERROR, str(exc))
        else:
            flash("Your request has been withdrawn", "success")
            return redirect(url_for("accounts.services"))
    service = add_service.service_for(found.service)
    needs = [FactName(n) for n in found.needs if n in {f.value for f in FactName}]
    return form_page(
        "services/request.html",
        form,
        found=found,
        service=service,
        needs=needs,
        fact_labels=facts.FACT_LABELS,
        evidence_accepted=EVIDENCE_ACCEPTED,
        long_date=long_date,
    )
