"""Issuing, recording and checking tokens.

Access tokens are JWTs per RFC 9068 (``typ: at+jwt``) signed with the current ES256 key;
each is recorded by ``jti`` so it can be revoked and introspected. Refresh tokens are
opaque random strings stored as SHA-256 hashes. A token is only "active" when its
signature, issuer and expiry check out AND its row exists and is not revoked.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from authlib.oauth2.rfc6749 import InvalidScopeError
from flask import current_app
from joserfc import jwt
from joserfc.errors import JoseError

from idservice.db import db_session
from idservice.models.base import utcnow
from idservice.models.residents import Resident
from idservice.oauth import dao
from idservice.oauth.claims import EndUser, pairwise_sub

if TYPE_CHECKING:
    from authlib.oauth2.rfc6749 import OAuth2Request

    from idservice.config import Settings
    from idservice.models.oauth import OAuthClient, OAuthToken
    from idservice.oauth.keys import KeyStore

ACCESS_TOKEN_TYP = "at+jwt"  # noqa: S105 - a media type, not a secret
ALGORITHMS = ["ES256"]


def settings() -> Settings:
    return current_app.config["KENTCARD"]  # type: ignore[no-any-return]


def keystore() -> KeyStore:
    return current_app.extensions["kentcard_oauth_keys"]  # type: ignore[no-any-return]


def generate_tokens(
    grant_type: str,
    client: OAuthClient,
    user: EndUser | None = None,
    scope: str | None = None,
    expires_in: int | None = None,
    include_refresh_token: bool = True,
) -> dict[str, Any]:
    """Authlib's token generator: a signed access token and perhaps a refresh token."""
    allowed = client.get_allowed_scope(scope)
    if allowed is None:
        raise InvalidScopeError()
    conf = settings()
    lifetime = expires_in or conf.access_token_lifetime
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": conf.issuer,
        # The only resource servers are this service's own APIs (userinfo, partner API);
        # the issuer is their default resource indicator (RFC 9068 section 3).
        "aud": conf.issuer,
        "client_id": client.client_id,
        "scope": allowed,
        "jti": secrets.token_urlsafe(18),
        "iat": now,
        "exp": now + lifetime,
    }
    if user is None:
        claims["sub"] = client.client_id
    else:
        claims["sub"] = pairwise_sub(conf, user.sector, user.resident.id)
        claims.update(auth_time=int(user.auth_time.timestamp()), acr=user.acr, amr=user.amr)
    key = keystore().signing_key()
    header = {"alg": "ES256", "typ": ACCESS_TOKEN_TYP, "kid": key.kid}
    token: dict[str, Any] = {
        "token_type": "Bearer",
        "access_token": jwt.encode(header, claims, key),
        "expires_in": lifetime,
        "scope": allowed,
    }
    if include_refresh_token and user is not None:
        token["refresh_token"] = secrets.token_urlsafe(48)
    return token


def _unverified_payload(token: str) -> dict[str, Any]:
    """The claims of a JWT we have just signed ourselves (no need to verify again)."""
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))  # type: ignore[no-any-return]


def save_token(token: dict[str, Any], request: OAuth2Request) -> None:
    """Authlib's ``save_token``: one row per issue; the view commits."""
    claims = _unverified_payload(token["access_token"])
    user: EndUser | None = request.user
    previous: OAuthToken | None = request.refresh_token
    code = request.authorization_code
    refresh = token.get("refresh_token")
    issued = datetime.fromtimestamp(claims["iat"], UTC)
    if previous is not None:
        # Rotation keeps the family and its absolute expiry: refreshing never extends it.
        family_id = previous.family_id
        refresh_expires = previous.refresh_expires_at
        code_id = previous.authorization_code_id
    else:
        family_id = None
        refresh_expires = issued + timedelta(seconds=settings().refresh_token_lifetime)
        code_id = code.id if code is not None else None
    dao.dao_create_token(
        jti=claims["jti"],
        client_id=request.client.client_id,
        scope=token.get("scope", ""),
        issued_at=issued,
        access_expires_at=datetime.fromtimestamp(claims["exp"], UTC),
        resident_id=user.resident.id if user else None,
        refresh_token=refresh,
        refresh_expires_at=refresh_expires,
        family_id=family_id,
        authorization_code_id=code_id,
        auth_time=user.auth_time if user else None,
        acr=user.acr if user else None,
        amr=user.amr if user else None,
    )


@dataclass
class FoundToken:
    """A presented token that we issued, for introspection, revocation and userinfo."""

    kind: str  # "access_token" or "refresh_token"
    row: OAuthToken
    claims: dict[str, Any]

    @property
    def scope(self) -> str:
        return self.row.scope

    def get_scope(self) -> str:
        return self.row.scope

    def check_client(self, client: OAuthClient) -> bool:
        return self.row.client_id == client.client_id

    def is_expired(self) -> bool:
        expires = (
            self.row.access_expires_at
            if self.kind == "access_token"
            else self.row.refresh_expires_at
        )
        return expires is None or expires <= utcnow()

    def is_revoked(self) -> bool:
        if self.row.revoked_at is not None:
            return True
        return self.kind == "refresh_token" and self.row.refresh_used_at is not None

    def get_client(self) -> OAuthClient | None:
        return dao.dao_get_client(self.row.client_id)

    def get_user(self) -> EndUser | None:
        if self.row.resident_id is None:
            return None
        resident = db_session.get(Resident, self.row.resident_id)
        client = self.get_client()
        if resident is None or not resident.is_active or client is None:
            return None
        return EndUser(
            resident=resident,
            sector=client.sector,
            auth_time=self.row.auth_time or self.row.issued_at,
            acr=self.row.acr or "",
            amr=list(self.row.amr),
        )


def verify_access_token(token: str) -> FoundToken | None:
    """A JWT access token we signed, for our issuer, unexpired and on record; else None.

    ``alg: none``, another algorithm, a changed signature, an unknown ``kid`` or ``jti``
    all give None; so does an expired token.
    """
    if token.count(".") != 2 or len(token) > 4096:
        return None
    try:
        header_part = token.split(".", 1)[0]
        header = json.loads(base64.urlsafe_b64decode(header_part + "=" * (-len(header_part) % 4)))
        if not isinstance(header, dict) or header.get("alg") not in ALGORITHMS:
            return None
        if header.get("typ") != ACCESS_TOKEN_TYP:
            return None
        keys = keystore().verification_keys(header.get("kid"))
        decoded = jwt.decode(token, keys, algorithms=ALGORITHMS)
        registry = jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": settings().issuer},
            exp={"essential": True},
            jti={"essential": True},
            client_id={"essential": True},
        )
        registry.validate(decoded.claims)
    except (JoseError, ValueError, TypeError):
        return None
    row = dao.dao_get_token_by_jti(str(decoded.claims["jti"]))
    if row is None or row.client_id != decoded.claims["client_id"]:
        return None
    return FoundToken("access_token", row, dict(decoded.claims))


def find_refresh_token(token: str) -> FoundToken | None:
    row = dao.dao_get_token_by_refresh_token(token)
    if row is None:
        return None
    return FoundToken("refresh_token", row, {})


def find_token(token: str, hint: str | None = None) -> FoundToken | None:
    """Look a token up as either kind, trying the hinted kind first (RFC 7009/7662)."""
    if hint == "refresh_token":
        return find_refresh_token(token) or verify_access_token(token)
    return verify_access_token(token) or find_refresh_token(token)
