"""The partner entitlement API under ``/api/v1`` and the resident's "who checked" page.

Partner services (OAuth clients using client credentials) check whether a card or a
resident holds a catalogue service; residents see every check on their account. The
OpenAPI 3 document is generated from the marshmallow schemas by flask-smorest and served
at ``/api/v1/openapi.json``; ``/api/v1/docs`` lists its operations as a plain page (no
scripts fetched from anywhere). See docs/partner-api.md.

Owns ``partner_queries`` and ``pairwise_subjects``. Uses the OAuth provider's tokens and
clients (:mod:`idservice.oauth`) and the ledger's projection; must not import the staff
console or the account pages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask_smorest import Api

if TYPE_CHECKING:
    from flask import Flask

API_EXTENSION = "kentcard_partner_api"
CONFIG_PREFIX = "PARTNER_"


class PartnerApi(Api):  # type: ignore[misc]  # flask-smorest has no type hints
    """flask-smorest's ``Api`` with the service's error shape, and no app-wide handler.

    ``Api`` would register an error handler for every HTTP error in the whole app,
    replacing the site's error pages; the API blueprint handles its own instead.
    """

    def _register_error_handlers(self) -> None:
        pass


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
    from idservice.partner_api.pages import bp as pages_bp
    from idservice.partner_api.schemas import ErrorSchema
    from idservice.partner_api.views import bp

    settings = app.config["KENTCARD"]
    for key, value in {
        "API_TITLE": "Kent Card partner entitlement API",
        "API_VERSION": "1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api/v1",
        "OPENAPI_JSON_PATH": "openapi.json",
        "API_SPEC_OPTIONS": {
            "info": {
                "description": "Ask whether a Kent Card or a resident holds a council or "
                "partner service, and nothing more. Every failure is a JSON body "
                '`{"error": code, "message": words}` (validation failures add `errors`). '
                "See the partner API guide (docs/partner-api.md)."
            },
        },
    }.items():
        app.config.setdefault(CONFIG_PREFIX + key, value)
    PartnerApi.ERROR_SCHEMA = ErrorSchema
    api = PartnerApi(app, config_prefix=CONFIG_PREFIX)
    for name, scheme in _security_schemes(settings.issuer).items():
        api.spec.components.security_scheme(name, scheme)
    api.register_blueprint(bp)
    app.register_blueprint(pages_bp)
    app.extensions[API_EXTENSION] = api
    from idservice.partner_api.lean import install as install_lean_check_path

    install_lean_check_path(app)
