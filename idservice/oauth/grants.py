"""The grants this provider supports, subclassed through Authlib's documented hooks.

- authorization code with PKCE (S256 only; required for public clients), OpenID Connect
  and the ``claims`` parameter (for ``birthdate``);
- refresh token with rotation and reuse detection;
- client credentials for partner services (service scopes only).
"""

from __future__ import annotations

import hmac
import logging
from typing import TYPE_CHECKING, Any

from authlib.oauth2.rfc6749 import (
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    grants,
)
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7636.challenge import CODE_VERIFIER_PATTERN, create_s256_code_challenge
from authlib.oidc.core import grants as oidc_grants
from authlib.oidc.core.errors import RequestNotSupportedError, RequestURINotSupportedError
from joserfc.jwk import KeySet

from idservice import request_input
from idservice.db import db_session
from idservice.models.base import utcnow
from idservice.models.residents import Resident
from idservice.oauth import dao, scopes
from idservice.oauth.claims import EndUser, user_claims
from idservice.oauth.tokens import keystore, settings

if TYPE_CHECKING:
    from authlib.oauth2.rfc6749 import OAuth2Request

    from idservice.models.oauth import AuthorizationCode, OAuthClient, OAuthToken

log = logging.getLogger(__name__)

TOKEN_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]  # Authlib has no type hints
    """Codes are stored as hashes, short lived, single use; a replay revokes."""

    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_AUTH_METHODS

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        user: EndUser = request.user
        data = request.payload.data
        dao.dao_create_authorization_code(
            code,
            settings().authorization_code_lifetime,
            client_id=request.client.client_id,
            resident_id=user.resident.id,
            redirect_uri=request.payload.redirect_uri,
            scope=request.scope,
            nonce=data.get("nonce"),
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
            auth_time=user.auth_time,
            acr=user.acr,
            amr=list(user.amr),
        )

    def query_authorization_code(self, code: str, client: OAuthClient) -> AuthorizationCode | None:
        row = dao.dao_get_authorization_code(code)
        if row is None or row.client_id != client.client_id:
            return None
        if row.used_at is not None:
            # RFC 6749 section 4.1.2: a code used twice revokes what it gave out.
            revoked = dao.dao_revoke_tokens_from_code(row.id)
            db_session.commit()
            log.warning(
                "authorization code replayed by %s; revoked %d tokens", client.client_id, revoked
            )
            return None
        if row.expires_at <= utcnow():
            return None
        return row

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        # Kept, marked used, so that a later replay is recognised.
        if not dao.dao_claim_authorization_code(authorization_code):
            raise InvalidGrantError("The code has already been used.")

    def authenticate_user(self, authorization_code: AuthorizationCode) -> EndUser | None:
        resident = db_session.get(Resident, authorization_code.resident_id)
        if resident is None or not resident.is_active:
            return None
        return EndUser(
            resident=resident,
            sector=self.request.client.sector,
            auth_time=authorization_code.auth_time,
            acr=authorization_code.acr,
            amr=list(authorization_code.amr),
        )


class PKCE(CodeChallenge):  # type: ignore[misc]  # Authlib has no type hints
    """RFC 7636 with S256 only; public clients must use it; failures are invalid_grant."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant: Any, redirect_uri: Any) -> None:
        super().validate_code_challenge(grant, redirect_uri)
        data = grant.request.payload.data
        if data.get("code_challenge"):
            if data.get("code_challenge_method") != "S256":
                raise InvalidRequestError("'code_challenge_method' must be 'S256'.")
        elif grant.request.client.is_public:
            raise InvalidRequestError("Public clients must send a 'code_challenge' (S256).")

    def validate_code_verifier(self, grant: Any, result: Any) -> None:
        request = grant.request
        verifier = request.form.get("code_verifier")
        challenge = request.authorization_code.code_challenge
        if not challenge:
            if verifier or request.client.is_public:
                raise InvalidGrantError("No 'code_challenge' was sent for this code.")
            return
        if not verifier or not CODE_VERIFIER_PATTERN.match(verifier):
            raise InvalidGrantError("Missing or malformed 'code_verifier'.")
        expected = create_s256_code_challenge(verifier)
        if not hmac.compare_digest(expected.encode(), challenge.encode()):
            raise InvalidGrantError("Code challenge failed.")


class UnsupportedParameters:
    """Refuse, rather than ignore, what discovery says this provider does not support.

    A request object (``request``, ``request_uri``) may carry parameters that differ from
    the plain ones, and a service asking for ``response_mode=fragment`` or ``form_post``
    would look for the answer where it is not. Both are refused with the errors of
    OpenID Connect Core 1.0 section 6, sent back to the (already checked) redirect URI.
    """

    RESPONSE_MODES = ("query",)

    def __call__(self, grant: Any) -> None:
        grant.register_hook("after_validate_authorization_request_payload", self.refuse)

    def refuse(self, grant: Any, _result: Any) -> None:
        data = grant.request.payload.data
        if "request" in data:
            raise RequestNotSupportedError("Request objects ('request') are not supported.")
        if "request_uri" in data:
            raise RequestURINotSupportedError("'request_uri' is not supported.")
        mode = data.get("response_mode")
        if mode is not None and mode not in self.RESPONSE_MODES:
            raise InvalidRequestError("'response_mode' must be 'query' (or left out).")


class ClaimsParameter:
    """OpenID Connect ``claims`` parameter: honoured for ``birthdate`` only.

    Asking for ``birthdate`` there adds the ``birthdate`` scope to what is granted (and
    shown on the consent page), if the client is registered for it; other members are
    ignored, which OpenID Connect allows.
    """

    def __call__(self, grant: Any) -> None:
        grant.register_hook("after_validate_authorization_request_payload", self.apply)

    @staticmethod
    def requested(raw: str | None) -> set[str]:
        if not raw:
            return set()
        try:
            value = request_input.parse_json(raw, request_input.current_limits())
        except request_input.InputRefused as exc:
            raise InvalidRequestError(f"'claims': {exc.message}.") from None
        except ValueError:
            raise InvalidRequestError("'claims' is not valid JSON.") from None
        if not isinstance(value, dict):
            raise InvalidRequestError("'claims' must be a JSON object.")
        names: set[str] = set()
        for member in ("userinfo", "id_token"):
            part = value.get(member) or {}
            if not isinstance(part, dict):
                raise InvalidRequestError(f"'claims.{member}' must be a JSON object.")
            names.update(part)
        return names

    def apply(self, grant: Any, _result: Any) -> None:
        request = grant.request
        if "birthdate" not in self.requested(request.payload.data.get("claims")):
            return
        client: OAuthClient = request.client
        granted = scopes.parse(request.scope)
        if "birthdate" in scopes.parse(client.scope) and "birthdate" not in granted:
            request.scope = scopes.join([*granted, "birthdate"])


class OpenIDCode(oidc_grants.OpenIDCode):  # type: ignore[misc]  # Authlib has no type hints
    """ID tokens signed with the current ES256 key, pairwise ``sub``, session acr/amr."""

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        return dao.dao_nonce_used(request.payload.client_id, nonce)

    def resolve_client_private_key(self, client: OAuthClient) -> KeySet:
        # A key set of one: joserfc then puts its kid in the header.
        return KeySet([keystore().signing_key()])

    def get_client_algorithm(self, client: OAuthClient) -> str:
        return "ES256"

    def get_client_claims(self, client: OAuthClient) -> dict[str, Any]:
        conf = settings()
        now = int(utcnow().timestamp())
        return {
            "iss": conf.issuer,
            "aud": client.client_id,
            "iat": now,
            "exp": now + conf.id_token_lifetime,
        }

    def generate_user_info(self, user: EndUser, scope: str) -> dict[str, Any]:
        return user_claims(settings(), user, scope)


class RefreshTokenGrant(grants.RefreshTokenGrant):  # type: ignore[misc]  # Authlib has no type hints
    """Rotation: each refresh token works once; using a spent one revokes its family."""

    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> OAuthToken | None:
        row = dao.dao_get_token_by_refresh_token(refresh_token)
        if row is None:
            return None
        if row.refresh_used_at is not None:
            if row.family_id:
                revoked = dao.dao_revoke_family(row.family_id)
                db_session.commit()
                log.warning("refresh token reused; revoked family of %d tokens", revoked)
            return None
        if row.revoked_at is not None:
            return None
        if row.refresh_expires_at is None or row.refresh_expires_at <= utcnow():
            return None
        return row

    def authenticate_user(self, refresh_token: OAuthToken) -> EndUser | None:
        if refresh_token.resident_id is None:
            return None
        resident = db_session.get(Resident, refresh_token.resident_id)
        if resident is None or not resident.is_active:
            return None
        return EndUser(
            resident=resident,
            sector=self.request.client.sector,
            auth_time=refresh_token.auth_time or refresh_token.issued_at,
            acr=refresh_token.acr or "",
            amr=list(refresh_token.amr),
        )

    def revoke_old_credential(self, refresh_token: OAuthToken) -> None:
        if not dao.dao_claim_refresh_token(refresh_token):
            raise InvalidGrantError("The refresh token has already been used.")


class ClientCredentialsGrant(grants.ClientCredentialsGrant):  # type: ignore[misc]  # Authlib has no type hints
    """Partner services acting for themselves: secret required, service scopes only."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def validate_requested_scope(self) -> None:
        super().validate_requested_scope()
        names = scopes.parse(self.request.payload.scope)
        if any(scopes.SCOPES[name].resident for name in names):
            raise InvalidScopeError("Scopes about residents need the authorization code flow.")
