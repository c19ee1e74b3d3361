"""The provider wired in one place: grants, extensions and endpoints on Authlib's server."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import InvalidScopeError
from authlib.oauth2.rfc9207 import IssuerParameter as _IssuerParameter
from flask import current_app

from idservice.oauth import dao, scopes
from idservice.oauth.endpoints import (
    EndSessionEndpoint,
    IntrospectionEndpoint,
    RevocationEndpoint,
    UserInfoEndpoint,
    resource_protector,
)
from idservice.oauth.grants import (
    PKCE,
    AuthorizationCodeGrant,
    ClaimsParameter,
    ClientCredentialsGrant,
    OpenIDCode,
    RefreshTokenGrant,
)
from idservice.oauth.tokens import generate_tokens, save_token, settings

if TYPE_CHECKING:
    from flask import Flask

    from idservice.models.oauth import OAuthClient

EXTENSION = "kentcard_oauth_server"


class KentAuthorizationServer(AuthorizationServer):  # type: ignore[misc]  # Authlib has no type hints
    def validate_requested_scope(self, scope: str | None) -> None:
        """Unknown scopes are refused outright (never silently dropped)."""
        names = scopes.unknown(scopes.parse(scope))
        if names:
            raise InvalidScopeError(f"Unknown scope: {' '.join(names)}"[:200])


class IssuerParameter(_IssuerParameter):  # type: ignore[misc]  # Authlib has no type hints
    """RFC 9207 ``iss`` on every authorization response, read per request."""

    def get_issuer(self) -> str:
        return settings().issuer


def _query_client(client_id: str) -> OAuthClient | None:
    return dao.dao_get_client(client_id)


def build_server(app: Flask) -> KentAuthorizationServer:
    server = KentAuthorizationServer()
    server.init_app(app, query_client=_query_client, save_token=save_token)
    server.register_token_generator("default", generate_tokens)
    server.register_grant(
        AuthorizationCodeGrant,
        [PKCE(required=True), ClaimsParameter(), OpenIDCode(require_nonce=False)],
    )
    server.register_grant(RefreshTokenGrant)
    server.register_grant(ClientCredentialsGrant)
    server.register_extension(IssuerParameter())
    server.register_endpoint(IntrospectionEndpoint)
    server.register_endpoint(RevocationEndpoint)
    server.register_endpoint(UserInfoEndpoint(resource_protector=resource_protector()))
    server.register_endpoint(EndSessionEndpoint)
    app.extensions[EXTENSION] = server
    return server


def get_server() -> KentAuthorizationServer:
    return current_app.extensions[EXTENSION]  # type: ignore[no-any-return]


def add_issuer(response: Any) -> Any:
    """``iss`` on an error redirect that Authlib's hook does not see (RFC 9207 section 2)."""
    IssuerParameter().add_issuer_parameter(get_server(), response)
    return response
