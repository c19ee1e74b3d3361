"""Staff console pages for identity evidence: choose the document or check, then record
it on its own page with the facts it proves (:mod:`idservice.staff.evidence`).

Two steps rather than one page that changes with the choice, so the pages need no
JavaScript and each shows only what the chosen document proves. Opened from a request
waiting for evidence (``?request=<id>``), the pages go back to that request afterwards.
"""

from __future__ import annotations

import re
from typing import Any

from flask import abort, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue

from idservice.staff import bp, evidence, identity, services
from idservice.staff.evidence_forms import ChooseDocumentForm, document_form, seen_from
from idservice.staff.permissions import Action, allowed
from idservice.staff.views import _staff, _with_access, requires
from idservice.web.pages import form_page

_REQUEST_ID = re.compile(r"[0-9a-f-]{36}")


def request_id_arg() -> str | None:
    """The request these pages were opened from, if the link gave a well-formed one."""
    value = request.args.get("request", "")
    return value if _REQUEST_ID.fullmatch(value) else None


def back_after_recording(resident_id: str) -> ResponseReturnValue:
    """To the request the page was opened from (for staff who decide), else the record."""
    request_id = request_id_arg()
    if request_id and allowed(_staff().role, Action.DECIDE_REQUEST):
        return redirect(
            url_for("staff.decide_request", resident_id=resident_id, request_id=request_id)
        )
    return redirect(url_for("staff.record", resident_id=resident_id))


def with_request(**kw: Any) -> dict[str, Any]:
    request_id = request_id_arg()
    return {**kw, "request": request_id} if request_id else kw


@bp.route("/residents/<resident_id>/evidence", methods=["GET", "POST"])
@requires(Action.RECORD_EVIDENCE)
@_with_access
def record_evidence(resident_id: str, access: services.Access) -> ResponseReturnValue:
    form = ChooseDocumentForm(request.form if request.method == "POST" else None)
    if form.validate():
        return redirect(
            url_for(
                "staff.record_evidence_document",
                **with_request(resident_id=resident_id, document_type=form.data["document_type"]),
            )
        )
    return form_page(
        "staff/evidence.html",
        form,
        resident_id=resident_id,
        action=url_for("staff.record_evidence", **with_request(resident_id=resident_id)),
    )


@bp.route("/residents/<resident_id>/evidence/<document_type>", methods=["GET", "POST"])
@requires(Action.RECORD_EVIDENCE)
@_with_access
def record_evidence_document(
    resident_id: str, document_type: str, access: services.Access
) -> ResponseReturnValue:
    if document_type not in identity.DOCUMENT_TYPES:
        abort(404)
    staff = _staff()
    if request.method == "GET":  # the page shows the record's date of birth and address
        services.view_record(staff, access, "record evidence")
    asks = evidence.what_to_ask(resident_id, document_type)
    form = document_form(asks, request.form if request.method == "POST" else None)
    if form.validate():
        try:
            done = evidence.record_evidence(
                staff,
                access,
                document_type,
                form.data["reference"],
                seen_from(form, request.form.get("shown")),
            )
        except evidence.EvidenceRefused as exc:
            if exc.field == evidence.FORM_ERROR:  # the record changed: confirm afresh
                asks = evidence.what_to_ask(resident_id, document_type)
                kept = request.form.copy()
                kept.poplist("confirm")
                form = document_form(asks, kept)
            form.add_error(exc.field, str(exc))
        else:
            flash(_recorded_message(done), "success")
            return back_after_recording(resident_id)
    return form_page(
        "staff/evidence_document.html",
        form,
        resident_id=resident_id,
        asks=asks,
        action=url_for(
            "staff.record_evidence_document",
            **with_request(resident_id=resident_id, document_type=document_type),
        ),
        back=url_for("staff.record_evidence", **with_request(resident_id=resident_id)),
        can_change=allowed(staff.role, Action.CHANGE_DETAILS),
    )


def _recorded_message(done: evidence.Recorded) -> str:
    label = identity.DOCUMENT_TYPES[done.evidence.document_type].label
    parts = [
        f"{label} ending {done.evidence.reference_last4} recorded. "
        f"Identity: {identity.LEVEL_NAMES[done.level]}."
    ]
    if done.facts:
        words = [evidence.FACT_WORDS[name] for name in done.facts]
        parts.append(f"Recorded from it: {', '.join(words)}.")
    if done.already:
        words = [evidence.FACT_WORDS[name] for name in done.already]
        parts.append(f"Already on the record as well as this: {', '.join(words)}.")
    return " ".join(parts)
