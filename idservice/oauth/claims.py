"""What a service learns about a resident: pairwise ``sub`` and claims per scope.

Services get a pairwise subject identifier computed from their sector, so two unrelated
services cannot join their records through us, while one service always sees the same
``sub``. The key comes from ``KENTCARD_PAIRWISE_SALT`` (falling back to one derived from
``SECRET_KEY``; set the salt in production so that a new secret key keeps every ``sub``).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from idservice.oauth import scopes

if TYPE_CHECKING:
    from idservice.config import Settings
    from idservice.models.residents import Resident


@dataclass
class EndUser:
    """The resident as Authlib's ``request.user``, with how and when they signed in.

    ``sector`` is that of the client the tokens are for, so claims can be computed
    wherever Authlib only passes the user.
    """

    resident: Resident
    sector: str
    auth_time: datetime
    acr: str
    amr: list[str] = field(default_factory=list)

    def get_user_id(self) -> str:
        return self.resident.id


@functools.lru_cache(maxsize=8)
def _pairwise_key(salt: str, secret_key: str) -> bytes:
    if salt:
        return salt.encode()
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"kentcard pairwise subject v1"
    ).derive(secret_key.encode())


def pairwise_sub(settings: Settings, sector: str, resident_id: str) -> str:
    key = _pairwise_key(settings.pairwise_salt, settings.secret_key)
    digest = hmac.new(key, f"{sector}\x00{resident_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _e164(phone: str) -> str:
    return "+44" + phone[1:] if phone.startswith("0") else phone


def user_claims(settings: Settings, user: EndUser, scope: str) -> dict[str, Any]:
    """Claims for the ID token and userinfo: ``sub`` plus those of each granted scope."""
    granted = set(scopes.parse(scope))
    resident = user.resident
    claims: dict[str, Any] = {"sub": pairwise_sub(settings, user.sector, resident.id)}
    if "profile" in granted:
        claims.update(
            name=resident.full_name,
            given_name=resident.given_name,
            family_name=resident.family_name,
            locale=resident.language or "en",
            updated_at=int(resident.updated_at.timestamp()),
        )
    if "email" in granted and resident.email:
        claims.update(email=resident.email, email_verified=resident.email_verified_at is not None)
    if "address" in granted:
        claims["address"] = resident.address_claim()
    if "phone" in granted and resident.phone:
        claims.update(phone_number=_e164(resident.phone), phone_number_verified=False)
    if "birthdate" in granted:
        claims["birthdate"] = resident.date_of_birth.isoformat()
    return claims
