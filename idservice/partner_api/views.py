"""``/api/v1``: the partner entitlement API (flask-smorest, OpenAPI 3 from the schemas).

Authentication, the service's existence, scope and rate limit are decided in one
``before_request`` hook, before the body is even parsed, so a caller without a valid token
learns nothing from validation messages. Every failure is ``{"error", "message"}``
(:mod:`idservice.api_errors`), documented per operation in the OpenAPI document.
"""

from __future__ import annotations

from typing import Any

from flask import Response, g, request
from flask_smorest import Blueprint

from idservice import api_errors
from idservice.api_errors import InsufficientScope, NotFoundError
from idservice.oauth import scopes
from idservice.oauth.bearer import bearer_token, require_scope
from idservice.openapi import BEARER_ERRORS, document_errors
from idservice.partner_api import access, checks
from idservice.partner_api.schemas import (
    CHECK_RESULT_SCHEMA,
    CardCheckSchema,
    OwnEntitlementsSchema,
    SubjectCheckSchema,
)
from idservice.request_input import BoundedFlaskParser

bp = Blueprint(
    "partner_api",
    __name__,
    url_prefix="/api/v1",
    description="Entitlement checks for partner services, and a resident's own entitlements.",
)
api_errors.register(bp)
#: webargs parses JSON bodies itself: with the same size and depth limits as the app.
bp.ARGUMENTS_PARSER = BoundedFlaskParser()

_CHECK_OPERATIONS = {"partner_api.check_card_number", "partner_api.check_subject"}


@bp.after_request
def _no_store(response: Response) -> Response:
    """Answers are about residents: never cached anywhere on the way."""
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.before_request
def _authenticate() -> None:
    endpoint = request.endpoint or ""
    found = bearer_token()
    if endpoint in _CHECK_OPERATIONS:
        service = (request.view_args or {}).get("service", "")
        if service not in access.service_codes():
            raise NotFoundError("There is no service with that code")
        needed = scopes.check_scope(service)
        if found.row.resident_id is not None:
            raise InsufficientScope(
                f"Checks need a service token (client credentials) with the {needed} scope",
                scope=needed,
            )
        require_scope(found, needed)
        g.partner = access.partner_for(str(found.row.client_id))
        access.admit(g.partner)
    else:
        if found.row.resident_id is None:
            raise InsufficientScope(
                f"This needs a resident's access token with the {scopes.OWN_ENTITLEMENTS} scope",
                scope=scopes.OWN_ENTITLEMENTS,
            )
        require_scope(found, scopes.OWN_ENTITLEMENTS)
        g.resident_id = str(found.row.resident_id)


#: What each status means for a check (the resident's own list answers 401 and 403 only).
_CHECK_ERRORS = {
    400: "The body is not JSON",
    **BEARER_ERRORS,
    404: "not_found: no service with that code",
    429: "rate_limited: too many requests from this service",
}


_SERVICE_PARAMETER = {
    "in": "path",
    "name": "service",
    "required": True,
    "description": "A catalogue service code; the token needs `entitlements:<code>:check`",
    "schema": {"type": "string", "enum": checks.catalogue().codes},
}


@bp.route("/checks/<service>/by-card-number", methods=["POST"], parameters=[_SERVICE_PARAMETER])
@bp.arguments(CardCheckSchema)
@bp.response(200, CHECK_RESULT_SCHEMA)
@document_errors(bp, _CHECK_ERRORS)
@bp.doc(security=[{"partner": []}], operationId="checkByCardNumber")
def check_card_number(body: dict[str, Any], service: str) -> checks.CheckResult:
    """Does the holder of this Kent Card hold the service?

    Needs a client credentials token with the service's `entitlements:<code>:check`
    scope. The card must be active and in date, else `card_not_valid`.
    """
    return checks.check(g.partner, service, card_number=body["card_number"])


@bp.route("/checks/<service>/by-subject", methods=["POST"], parameters=[_SERVICE_PARAMETER])
@bp.arguments(SubjectCheckSchema)
@bp.response(200, CHECK_RESULT_SCHEMA)
@document_errors(bp, _CHECK_ERRORS)
@bp.doc(security=[{"partner": []}], operationId="checkBySubject")
def check_subject(body: dict[str, Any], service: str) -> checks.CheckResult:
    """Does the resident with this pairwise subject hold the service?

    Needs a client credentials token with the service's `entitlements:<code>:check`
    scope. Only subjects given to your service (your sector) resolve.
    """
    return checks.check(g.partner, service, subject=body["subject"])


@bp.route("/me/entitlements", methods=["GET"])
@bp.response(200, OwnEntitlementsSchema)
@document_errors(bp, BEARER_ERRORS)
@bp.doc(security=[{"resident": [scopes.OWN_ENTITLEMENTS]}], operationId="listOwnEntitlements")
def own_entitlements() -> dict[str, Any]:
    """The signed-in resident's own entitlements (an access token from sign-in).

    Needs a resident's access token with the `entitlements` scope.
    """
    items = checks.own_entitlements(g.resident_id)
    return {"entitlements": items}
