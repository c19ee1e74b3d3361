"""OAuth clients, signing keys, authorization codes, tokens and residents' consents.

Only hashes of secrets are stored: client secrets, authorization codes and refresh
tokens are high-entropy random strings, so a SHA-256 digest is enough and keeps the token
endpoint fast. Access tokens are signed JWTs; their ``jti`` is kept so that they can be
revoked and introspected. Rows refer to residents by id only (no personal data here).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from typing import Any

from authlib.oauth2.rfc6749 import ClientMixin, list_to_scope, scope_to_list
from authlib.oidc.core import AuthorizationCodeMixin as OIDCAuthorizationCodeMixin
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from idservice.models.base import Base, utcnow
from idservice.models.types import UTCDateTime

_BIGINT = BigInteger().with_variant(Integer, "sqlite")


def secret_digest(secret: str) -> str:
    """SHA-256 of a high-entropy secret: enough for random secrets, and fast."""
    return hashlib.sha256(secret.encode()).hexdigest()


class OAuthClient(Base, ClientMixin):  # type: ignore[misc]  # Authlib has no type hints
    """A relying party or partner service registered with ``kentcard clients create``.

    Implements Authlib's ``ClientMixin``: exact redirect URI matching, only registered
    grants, and only registered scopes (a request outside them is ``invalid_scope``).
    """

    __tablename__ = "oauth_clients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    # SHA-256 hex of the secret; None for public clients (token_endpoint_auth_method none).
    client_secret_hash: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    post_logout_redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    grant_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    scope: Mapped[str] = mapped_column(Text, default="")
    token_endpoint_auth_method: Mapped[str] = mapped_column(
        String(32), default="client_secret_basic"
    )
    # Pairwise subject identifiers are computed per sector: services sharing a sector
    # (one organisation) see the same ``sub``; unrelated services never do.
    sector: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    @property
    def is_public(self) -> bool:
        return self.token_endpoint_auth_method == "none"  # noqa: S105 - a method name

    @property
    def client_metadata(self) -> dict[str, Any]:
        return {
            "client_name": self.name,
            "redirect_uris": list(self.redirect_uris),
            "post_logout_redirect_uris": list(self.post_logout_redirect_uris),
            "grant_types": list(self.grant_types),
            "response_types": self.response_types,
            "scope": self.scope,
            "token_endpoint_auth_method": self.token_endpoint_auth_method,
        }

    @property
    def response_types(self) -> list[str]:
        return ["code"] if "authorization_code" in self.grant_types else []

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        # OpenID Connect requires redirect_uri on every request: no default.
        return None

    def get_allowed_scope(self, scope: str | None) -> str | None:
        """The requested scope if every value is registered for this client, else None.

        None makes Authlib answer ``invalid_scope``: nothing is silently dropped or added,
        and a request without a scope is refused rather than given everything.
        """
        requested = list(dict.fromkeys(scope_to_list(scope or "") or []))
        if not requested:
            return None
        allowed = set(scope_to_list(self.scope) or [])
        if not set(requested) <= allowed:
            return None
        return str(list_to_scope(requested))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        if not self.client_secret_hash:
            return False
        return hmac.compare_digest(self.client_secret_hash, secret_digest(client_secret))

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.is_public:
            return method == "none"
        # Confidential clients may use either secret method at every endpoint.
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type in self.response_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


class SigningKey(Base):
    """An ES256 key that signs ID tokens and access tokens.

    Published in the JWKS from ``created_at`` and used for signing from ``signs_from``,
    so relying parties that cache the JWKS see a key before any token needs it.
    """

    __tablename__ = "oauth_signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    alg: Mapped[str] = mapped_column(String(16), default="ES256")
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Nonce + AES-GCM ciphertext of the PKCS#8 private key (key derived from SECRET_KEY).
    private_key_encrypted: Mapped[bytes] = mapped_column(LargeBinary(4096))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    signs_from: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class AuthorizationCode(Base, OIDCAuthorizationCodeMixin):  # type: ignore[misc]  # Authlib has no type hints
    """A single-use authorization code, kept (marked used) so that replays are caught."""

    __tablename__ = "oauth_authorization_codes"

    id: Mapped[int] = mapped_column(_BIGINT, primary_key=True, autoincrement=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[str] = mapped_column(
        ForeignKey("oauth_clients.client_id", ondelete="CASCADE"), index=True
    )
    resident_id: Mapped[str] = mapped_column(
        ForeignKey("residents.id", ondelete="CASCADE"), index=True
    )
    redirect_uri: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(Text, default="")
    nonce: Mapped[str | None] = mapped_column(String(255))
    code_challenge: Mapped[str | None] = mapped_column(String(128))
    code_challenge_method: Mapped[str | None] = mapped_column(String(16))
    auth_time: Mapped[datetime] = mapped_column(UTCDateTime())
    acr: Mapped[str] = mapped_column(String(64))
    amr: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return int(self.auth_time.timestamp())

    def get_acr(self) -> str:
        return self.acr

    def get_amr(self) -> list[str]:
        return list(self.amr)


class OAuthToken(Base):
    """One issue of tokens: an access token (by ``jti``) and perhaps a refresh token.

    Refresh tokens rotate: each use marks the row's refresh token used and issues a new
    row in the same ``family_id``; using a spent refresh token again revokes the family.
    """

    __tablename__ = "oauth_tokens"

    id: Mapped[int] = mapped_column(_BIGINT, primary_key=True, autoincrement=True)
    jti: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[str] = mapped_column(
        ForeignKey("oauth_clients.client_id", ondelete="CASCADE"), index=True
    )
    # None for client_credentials tokens (no resident involved).
    resident_id: Mapped[str | None] = mapped_column(
        ForeignKey("residents.id", ondelete="CASCADE"), index=True
    )
    scope: Mapped[str] = mapped_column(Text, default="")
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    access_expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    refresh_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    refresh_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    refresh_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    family_id: Mapped[str | None] = mapped_column(String(36), index=True)
    authorization_code_id: Mapped[int | None] = mapped_column(_BIGINT, index=True)
    auth_time: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acr: Mapped[str | None] = mapped_column(String(64))
    amr: Mapped[list[str]] = mapped_column(JSON, default=list)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    def check_client(self, client: ClientMixin) -> bool:
        return bool(self.client_id == client.get_client_id())

    def get_scope(self) -> str:
        return self.scope


class Consent(Base):
    """What a resident agreed to share with a service; withdrawn by deleting the row."""

    __tablename__ = "oauth_consents"
    __table_args__ = (UniqueConstraint("resident_id", "client_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resident_id: Mapped[str] = mapped_column(
        ForeignKey("residents.id", ondelete="CASCADE"), index=True
    )
    client_id: Mapped[str] = mapped_column(
        ForeignKey("oauth_clients.client_id", ondelete="CASCADE"), index=True
    )
    scope: Mapped[str] = mapped_column(Text, default="")
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
