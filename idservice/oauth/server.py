"""The provider wired in one place: grants, extensions and endpoints on Authlib's server."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar, cast

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Payload, FlaskOAuth2Request
from authlib.oauth2.rfc6749 import InvalidScopeError, OAuth2Request
from authlib.oauth2.rfc9207 import IssuerParameter as _IssuerParameter
from flask import Response, current_app
from flask import request as flask_request

from idservice import request_input
from idservice.oauth import client_auth, dao, scopes
from idservice.oauth.client_cache import ClientCache
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
    UnsupportedParameters,
)
from idservice.oauth.tokens import generate_tokens, save_token, settings

if TYPE_CHECKING:
    from flask import Flask

    from idservice.models.oauth import OAuthClient

EXTENSION = "kentcard_oauth_server"


S = TypeVar("S", bound="KentAuthorizationServer")


class KentAuthorizationServer(AuthorizationServer):  # type: ignore[misc]  # Authlib has no type hints
    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        if isinstance(request, OAuth2Request):
            return request  # built from the WSGI environ by the lean path (oauth/lean.py)
        return _OAuth2Request(flask_request)

    def validate_requested_scope(self, scope: str | None) -> None:
        """Unknown scopes are refused outright (never silently dropped)."""
        names = scopes.unknown(scopes.parse(scope))
        if names:
            text = request_input.oauth_error_text(" ".join(names))
            raise InvalidScopeError(f"Unknown scope: {text}"[:200])


class _Payload(FlaskOAuth2Payload):  # type: ignore[misc]  # Authlib has no type hints
    """Authlib reads ``payload.data`` several times a request and Werkzeug rebuilds
    ``request.values`` on every read; build it once."""

    @cached_property
    def data(self) -> Any:
        return request_input.oauth_parameters(self._request.values)


class _OAuth2Request(FlaskOAuth2Request):  # type: ignore[misc]  # Authlib has no type hints
    def __init__(self, request: Any) -> None:
        super().__init__(request)
        self.payload = _Payload(request)


class IssuerParameter(_IssuerParameter):  # type: ignore[misc]  # Authlib has no type hints
    """RFC 9207 ``iss`` on every authorization response, read per request."""

    def get_issuer(self) -> str:
        return settings().issuer


CLIENT_CACHE = "kentcard_oauth_clients"


def _query_client(client_id: str) -> OAuthClient | None:
    cache: ClientCache = current_app.extensions[CLIENT_CACHE]
    return cache.get(client_id, dao.dao_get_client)


def build_server(app: Flask) -> KentAuthorizationServer:
    app.extensions[CLIENT_CACHE] = ClientCache(ttl=settings_of(app).client_cache_seconds)
    server = configure_server(KentAuthorizationServer(), app)
    app.extensions[EXTENSION] = server
    return server


def configure_server(server: S, app: Flask) -> S:
    """Grants, extensions and endpoints: one setup for the Flask views and the lean path."""
    server.init_app(app, query_client=_query_client, save_token=save_token)
    for method, authenticate in client_auth.METHODS.items():
        server.register_client_auth_method(method, authenticate)
    server.register_token_generator("default", generate_tokens)
    server.register_grant(
        AuthorizationCodeGrant,
        [
            UnsupportedParameters(),
            PKCE(required=True),
            ClaimsParameter(),
            OpenIDCode(require_nonce=False),
        ],
    )
    server.register_grant(RefreshTokenGrant)
    server.register_grant(ClientCredentialsGrant)
    server.register_extension(IssuerParameter())
    server.register_endpoint(IntrospectionEndpoint)
    server.register_endpoint(RevocationEndpoint)
    server.register_endpoint(UserInfoEndpoint(resource_protector=resource_protector()))
    server.register_endpoint(EndSessionEndpoint)
    return server


def settings_of(app: Flask) -> Any:
    return app.config["KENTCARD"]


def get_server() -> KentAuthorizationServer:
    return current_app.extensions[EXTENSION]  # type: ignore[no-any-return]


def add_issuer(response: Any) -> Response:
    """``iss`` on an error redirect that Authlib's hook does not see (RFC 9207 section 2)."""
    IssuerParameter().add_issuer_parameter(get_server(), response)
    return cast(Response, response)  # Authlib's Flask integration answers with a Response
