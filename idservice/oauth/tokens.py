"""Issuing, recording and checking tokens.

Access tokens are JWTs per RFC 9068 (``typ: at+jwt``) signed with the current ES256 key.
Tokens issued for a resident are recorded by ``jti`` (with their refresh token, stored as
a SHA-256 hash), so consent withdrawal, code replay and refresh reuse can revoke them.

A service's own tokens (client_credentials) are self-contained, as RFC 9068 intends: no
row is written when one is issued, which keeps the token endpoint free of database writes
under load. Revoking one writes its row then, marked revoked, and introspection finds it.
A token is "active" when its signature, issuer and expiry check out, its client is still
registered, and no row says it was revoked (for resident tokens: its row exists).
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
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from flask import current_app
from joserfc import jwt
from joserfc.errors import JoseError

from idservice.db import db_session
from idservice.models.base import utcnow
from idservice.models.residents import Resident
from idservice.oauth import dao
from idservice.oauth.claims import EndUser, pairwise_sub
from idservice.request_input import InputRefused, JsonLimits, parse_json

if TYPE_CHECKING:
    from authlib.oauth2.rfc6749 import OAuth2Request
    from joserfc.jwk import ECKey

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
        "access_token": sign_es256(header, claims, key),
        "expires_in": lifetime,
        "scope": allowed,
    }
    if include_refresh_token and user is not None:
        token["refresh_token"] = secrets.token_urlsafe(48)
    return token


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"))
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
#: Encoded JOSE headers by their JSON text: a token's header changes only with the key.
_HEADER_SEGMENTS: dict[str, str] = {}


def sign_es256(header: dict[str, Any], claims: dict[str, Any], key: ECKey) -> str:
    """A compact JWS (RFC 7515) signed with ES256 (RFC 7518 section 3.4).

    The token endpoint's hottest step, done directly with ``cryptography``: a general
    JOSE library spends several times longer on the same few lines. Everything that
    verifies our tokens (tests, introspection, relying parties) uses a JOSE library.
    """
    header_json = _COMPACT_JSON.encode(header)
    header_segment = _HEADER_SEGMENTS.get(header_json)
    if header_segment is None:
        header_segment = _b64url(header_json.encode())
        if len(_HEADER_SEGMENTS) < 64:  # one per signing key; bounded all the same
            _HEADER_SEGMENTS[header_json] = header_segment
    signing_input = header_segment + "." + _b64url(_COMPACT_JSON.encode(claims).encode())
    private = key.private_key
    if private is None:
        raise ValueError("the signing key has no private part")
    der = private.sign(signing_input.encode("ascii"), _ECDSA_SHA256)
    r, s = decode_dss_signature(der)
    return f"{signing_input}.{_b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def _unverified_payload(token: str) -> dict[str, Any]:
    """The claims of a JWT we have just signed ourselves (no need to verify again)."""
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))  # type: ignore[no-any-return]


def save_token(token: dict[str, Any], request: OAuth2Request) -> None:
    """Authlib's ``save_token``: one row per resident issue; the view commits.

    A service's own token (no resident, no refresh token) is not written: see the module
    docstring.
    """
    user: EndUser | None = request.user
    if user is None and "refresh_token" not in token:
        return
    claims = _unverified_payload(token["access_token"])
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
    if user is not None:  # the access and ID tokens release this resident's pairwise sub
        dao.dao_remember_subject(user.sector, claims["sub"], user.resident.id)
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
    claims = verified_claims(token)
    if claims is None:
        return None
    row = dao.dao_get_token_by_jti(str(claims["jti"]))
    if row is None and is_service_token(claims):
        row = _unrecorded_service_token(claims)
    if row is None or row.client_id != claims["client_id"]:
        return None
    return FoundToken("access_token", row, claims)


#: A reader or a partner sends the same token thousands of times an hour, and checking
#: an ES256 signature costs more than the rest of an online check: the claims of a token
#: whose signature, issuer and form were checked are kept by the key store until the token
#: expires or the keys change. Only what the token itself proves is kept; revocation and
#: the client are looked up on every use. Bounded: emptied when full.
VERIFIED_CACHE_SIZE = 4096
#: A token's header is a small flat object: refused well before the parser could recurse.
JWT_HEADER = JsonLimits(max_depth=2, max_bytes=1024)


def verified_claims(token: str) -> dict[str, Any] | None:
    """The claims of an access token we signed for this issuer and that has not expired,
    or None. Says nothing about revocation or whether its client still exists."""
    cache = keystore().verified_tokens
    cached = cache.get(token)
    if cached is not None:
        if cached["exp"] > time.time():
            return cached
        cache.pop(token, None)
        return None
    claims = _verify_signed(token)
    if claims is not None:
        if len(cache) >= VERIFIED_CACHE_SIZE:
            cache.clear()
        cache[token] = claims
    return claims


def _verify_signed(token: str) -> dict[str, Any] | None:
    if token.count(".") != 2 or len(token) > 4096:
        return None
    try:
        header_part = token.split(".", 1)[0]
        header = parse_json(
            base64.urlsafe_b64decode(header_part + "=" * (-len(header_part) % 4)), JWT_HEADER
        )
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
    except (JoseError, ValueError, TypeError, InputRefused):
        return None
    claims = dict(decoded.claims)
    if not isinstance(claims.get("exp"), int | float):
        return None
    return claims


def is_service_token(claims: dict[str, Any]) -> bool:
    """A client_credentials token: its subject is the client itself, no resident."""
    return claims.get("sub") == claims.get("client_id") and "auth_time" not in claims


def _unrecorded_service_token(claims: dict[str, Any]) -> OAuthToken | None:
    """The row a service token would have, built from its verified claims (not saved).

    None when its client is no longer registered: removing a client ends its tokens.
    """
    from idservice.models.oauth import OAuthToken

    if dao.dao_get_client(str(claims["client_id"])) is None:
        return None
    return OAuthToken(
        jti=str(claims["jti"]),
        client_id=str(claims["client_id"]),
        scope=str(claims.get("scope", "")),
        issued_at=datetime.fromtimestamp(int(claims["iat"]), UTC),
        access_expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
        amr=[],
    )


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
