"""Introspection (RFC 7662), revocation (RFC 7009), userinfo and RP-initiated logout."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from authlib.integrations.flask_oauth2 import ResourceProtector
from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc6750 import BearerTokenValidator, InvalidTokenError
from authlib.oauth2.rfc7009 import RevocationEndpoint as _RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint as _IntrospectionEndpoint
from authlib.oidc.core import UserInfoEndpoint as _UserInfoEndpoint
from authlib.oidc.rpinitiated import EndSessionEndpoint as _EndSessionEndpoint
from joserfc.jwk import KeySet

from idservice.auth.sessions import end_session
from idservice.oauth import dao
from idservice.oauth.claims import pairwise_sub, user_claims
from idservice.oauth.logout_hint import fits_this_browser, id_token_claims
from idservice.oauth.tokens import FoundToken, find_token, keystore, settings, verify_access_token

if TYPE_CHECKING:
    from authlib.oauth2.rfc6749 import OAuth2Request
    from authlib.oidc.rpinitiated import EndSessionRequest

    from idservice.models.oauth import OAuthClient
    from idservice.oauth.claims import EndUser

SECRET_METHODS = ["client_secret_basic", "client_secret_post"]


class IntrospectionEndpoint(_IntrospectionEndpoint):  # type: ignore[misc]  # Authlib has no type hints
    """A client may introspect the tokens issued to it; anything else is inactive."""

    CLIENT_AUTH_METHODS = SECRET_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> FoundToken | None:
        return find_token(token_string, token_type_hint)

    def check_permission(self, token: FoundToken, client: OAuthClient, request: Any) -> bool:
        return token.check_client(client)

    def introspect_token(self, token: FoundToken) -> dict[str, Any]:
        row = token.row
        conf = settings()
        payload: dict[str, Any] = {
            "active": True,
            "client_id": row.client_id,
            "scope": row.scope,
            "iss": conf.issuer,
            "iat": int(row.issued_at.timestamp()),
        }
        if token.kind == "access_token":
            claims = token.claims
            payload.update(
                token_type="Bearer",  # noqa: S106 - a token type name
                sub=claims["sub"],
                aud=claims.get("aud"),
                exp=claims["exp"],
                jti=claims["jti"],
            )
        else:
            payload["token_type"] = "refresh_token"  # noqa: S105 - a token type name
            if row.refresh_expires_at is not None:
                payload["exp"] = int(row.refresh_expires_at.timestamp())
            client = token.get_client()
            if row.resident_id and client is not None:
                payload["sub"] = pairwise_sub(conf, client.sector, row.resident_id)
        for claim in ("acr", "amr"):
            if getattr(row, claim):
                payload[claim] = getattr(row, claim)
        return payload


class RevocationEndpoint(_RevocationEndpoint):  # type: ignore[misc]  # Authlib has no type hints
    """Revoking a refresh token revokes its family (and their access tokens)."""

    CLIENT_AUTH_METHODS = [*SECRET_METHODS, "none"]

    def query_token(self, token_string: str, token_type_hint: str | None) -> FoundToken | None:
        return find_token(token_string, token_type_hint)

    def revoke_token(self, token: FoundToken, request: OAuth2Request) -> None:
        if token.kind == "refresh_token" and token.row.family_id:
            dao.dao_revoke_family(token.row.family_id)
        else:
            dao.dao_revoke_token(token.row)


class AccessTokenValidator(BearerTokenValidator):  # type: ignore[misc]  # Authlib has no type hints
    """Bearer access tokens for the userinfo endpoint (and any resource of ours)."""

    def authenticate_token(self, token_string: str) -> FoundToken | None:
        return verify_access_token(token_string)

    def validate_token(self, token: FoundToken | None, scopes: Any, request: Any) -> None:
        super().validate_token(token, scopes, request)
        if token is not None and token.get_user() is None:
            # The resident closed their account, or it is a client_credentials token.
            raise InvalidTokenError(realm=self.realm)


def resource_protector() -> ResourceProtector:
    protector = ResourceProtector()
    protector.register_token_validator(AccessTokenValidator())
    return protector


class UserInfoEndpoint(_UserInfoEndpoint):  # type: ignore[misc]  # Authlib has no type hints
    def get_issuer(self) -> str:
        return settings().issuer

    def generate_user_info(self, user: EndUser, scope: str) -> dict[str, Any]:
        return user_claims(settings(), user, scope)

    def resolve_private_key(self) -> KeySet:
        return KeySet([keystore().signing_key()])


class EndSessionEndpoint(_EndSessionEndpoint):  # type: ignore[misc]  # Authlib has no type hints
    """RP-initiated logout: ends the browser's session at the Kent account.

    Authlib checks only that the hint carries one of our signatures; which hints count is
    decided in ``logout_hint``. A hint that does not fit this browser is treated as no
    hint: the resident is asked, and the service is not redirected to.
    """

    def validate_request(self, request: OAuth2Request) -> EndSessionRequest:
        logout = super().validate_request(request)
        if logout.id_token_claims is not None and not fits_this_browser(
            logout.id_token_claims, logout.client
        ):
            logout.id_token_claims = None
            logout.redirect_uri = None
        return logout

    def _validate_id_token_hint(self, id_token_hint: str) -> dict[str, Any]:
        claims = id_token_claims(id_token_hint)
        if claims is None:
            raise InvalidRequestError("'id_token_hint' is not an ID token issued here.")
        return claims

    def get_server_jwks(self) -> KeySet:
        return keystore().verification_keys()

    def get_algorithms(self) -> list[str]:
        return ["ES256"]

    def end_session(self, end_session_request: EndSessionRequest) -> None:
        end_session()
