"""The partner entitlement API under ``/api/v1`` and the resident's "who checked" page.

Partner services (OAuth clients using client credentials) check whether a card or a
resident holds a catalogue service; residents see every check on their account. The
OpenAPI 3 document is generated from the marshmallow schemas by flask-smorest and served
at ``/api/v1/openapi.json`` (:mod:`idservice.openapi`, with the readers' APIs);
``/api/v1/docs`` lists its operations as a plain page (no scripts fetched from anywhere).
See docs/partner-api.md.

Owns ``partner_queries`` and ``pairwise_subjects``. Uses the OAuth provider's tokens and
clients (:mod:`idservice.oauth`) and the ledger's projection; must not import the staff
console or the account pages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask


def _security_schemes(issuer: str) -> dict[str, Any]:
    from idservice.oauth import scopes

    partner_scopes = {
        name: scope.description
        for name, scope in scopes.SCOPES.items()
        if name.startswith("entitlements:") and name.endswith(":check")
    }
    own = scopes.OWN_ENTITLEMENTS
    return {
        "partner": {
            "type": "oauth2",
            "description": "A partner service's access token (client credentials), with "
            "one `entitlements:<service>:check` scope per service it may check.",
            "flows": {
                "clientCredentials": {
                    "tokenUrl": f"{issuer}/oauth/token",
                    "scopes": partner_scopes,
                }
            },
        },
        "resident": {
            "type": "oauth2",
            "description": "A resident's access token from signing in (authorization code).",
            "flows": {
                "authorizationCode": {
                    "authorizationUrl": f"{issuer}/oauth/authorize",
                    "tokenUrl": f"{issuer}/oauth/token",
                    "scopes": {own: scopes.SCOPES[own].description},
                }
            },
        },
    }


def init_app(app: Flask) -> None:
    from idservice.openapi import api_for
    from idservice.partner_api.pages import bp as pages_bp
    from idservice.partner_api.views import bp

    api = api_for(app)
    for name, scheme in _security_schemes(app.config["KENTCARD"].issuer).items():
        api.spec.components.security_scheme(name, scheme)
    api.register_blueprint(bp)
    app.register_blueprint(pages_bp)
    from idservice.partner_api.lean import install as install_lean_check_path

    install_lean_check_path(app)
