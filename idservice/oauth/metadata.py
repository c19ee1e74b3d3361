"""OpenID Provider metadata (Discovery 1.0, RFC 8414, RFC 9207), built per request.

The issuer comes from settings at request time, so one process serves whatever issuer
it is configured (or, in tests, re-configured) with.
"""

from __future__ import annotations

from typing import Any

from idservice.auth.levels import ACR_VALUES_SUPPORTED
from idservice.oauth import scopes

SECRET_METHODS = ["client_secret_basic", "client_secret_post"]


def provider_metadata(issuer: str) -> dict[str, Any]:
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/oauth/authorize",
        "token_endpoint": f"{issuer}/oauth/token",
        "userinfo_endpoint": f"{issuer}/oauth/userinfo",
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "introspection_endpoint": f"{issuer}/oauth/introspect",
        "revocation_endpoint": f"{issuer}/oauth/revoke",
        "end_session_endpoint": f"{issuer}/oauth/logout",
        "scopes_supported": scopes.SCOPES_SUPPORTED,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "token_endpoint_auth_methods_supported": [*SECRET_METHODS, "none"],
        "introspection_endpoint_auth_methods_supported": SECRET_METHODS,
        "revocation_endpoint_auth_methods_supported": [*SECRET_METHODS, "none"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": [*scopes.CLAIMS_SUPPORTED, "iss", "aud", "exp", "iat", "auth_time"],
        "claims_parameter_supported": True,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "acr_values_supported": ACR_VALUES_SUPPORTED,
        "prompt_values_supported": ["none", "login", "consent"],
        "authorization_response_iss_parameter_supported": True,
        "ui_locales_supported": ["en-GB"],
    }
