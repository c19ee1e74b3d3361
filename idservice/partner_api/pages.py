"""Pages: the partner API's documentation (its operations in the OpenAPI document) and the
resident's "Who checked your entitlements"."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, current_app, render_template
from markupsafe import Markup, escape

from idservice.auth.sessions import current_resident, login_required
from idservice.openapi import API_EXTENSION
from idservice.partner_api import history
from idservice.partner_api.checks import REASONS

bp = Blueprint("partner_pages", __name__)

_CODE = re.compile(r"`([^`]+)`")


@bp.app_template_filter("inline_code")
def inline_code(text: str) -> Markup:
    """The OpenAPI descriptions' `code` as <code>, everything else escaped."""
    return Markup(_CODE.sub(r'<code class="kc-code">\1</code>', str(escape(text))))  # noqa: S704


_METHODS = ("get", "post", "put", "patch", "delete")
#: The partner API's operations (flask-smorest tags each with its blueprint's name).
PARTNER_TAG = "partner_api"


def _operations(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Each operation with its request fields and responses, for a plain HTML list."""
    schemas = spec.get("components", {}).get("schemas", {})

    def resolve(ref_or_schema: dict[str, Any]) -> dict[str, Any]:
        ref = ref_or_schema.get("$ref", "")
        if ref.startswith("#/components/schemas/"):
            return dict(schemas.get(ref.rsplit("/", 1)[1], {}))
        return ref_or_schema

    responses_component = spec.get("components", {}).get("responses", {})
    operations = []
    for path, item in spec.get("paths", {}).items():
        for method in _METHODS:
            op = item.get(method)
            if op is None or PARTNER_TAG not in op.get("tags", ()):
                continue  # the readers' operations are in the document, not on this page
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            body_schema = resolve(body.get("schema", {})) if body else {}
            fields = [
                {
                    "name": name,
                    "required": name in body_schema.get("required", []),
                    "description": prop.get("description", ""),
                    "pattern": prop.get("pattern"),
                }
                for name, prop in body_schema.get("properties", {}).items()
            ]
            responses = []
            for status, response in op.get("responses", {}).items():
                if "$ref" in response:
                    response = responses_component.get(response["$ref"].rsplit("/", 1)[1], {})
                responses.append({"status": status, "description": response.get("description", "")})
            summary, _, details = (op.get("description") or op.get("summary") or "").partition("\n")
            operations.append(
                {
                    "id": op.get("operationId", f"{method}-{path}"),
                    "method": method.upper(),
                    "path": path,
                    "summary": op.get("summary") or summary,
                    "description": details.strip(),
                    "fields": fields,
                    "responses": sorted(responses, key=lambda r: str(r["status"])),
                }
            )
    return operations


@bp.get("/api/v1/docs")
def docs() -> str:
    spec = current_app.extensions[API_EXTENSION].spec.to_dict()
    partner_scopes = spec["components"]["securitySchemes"]["partner"]["flows"]["clientCredentials"][
        "scopes"
    ]
    return render_template(
        "partner_api/docs.html",
        operations=_operations(spec),
        scopes=partner_scopes,
        reasons=REASONS,
    )


@bp.get("/account/entitlement-checks")
@login_required
def entitlement_checks() -> str:
    resident = current_resident()
    assert resident is not None
    return render_template(
        "partner_api/entitlement_checks.html", items=history.checks_for(resident.id)
    )
