"""ES256 signing keys: publish before signing, retire only after their tokens expire.

Keys live in ``oauth_signing_keys`` with the private half encrypted (AES-256-GCM under a
key derived from the app's ``SECRET_KEY`` with HKDF), so a copy of the database alone
cannot sign tokens. Each worker caches the key table for a few seconds and the decrypted
private keys by ``kid``: the token endpoint signs without touching the table.

Timeline of a rotation: the new key is published at once and signs from
``signs_from = now + key_publish_lead``; the old key stays in the JWKS until the newest
token it could have signed has expired (``max(id, access token lifetime)`` after the new
key took over, plus the cache interval in case a worker was still signing with it).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from joserfc.jwk import ECKey, KeySet
from sqlalchemy import select
from sqlalchemy.orm import Session

from idservice.models.base import utcnow
from idservice.models.oauth import SigningKey

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from idservice.config import Settings

log = logging.getLogger(__name__)

ALG = "ES256"
#: How often each worker re-reads the key table.
REFRESH_SECONDS = 5.0
_HKDF_INFO = b"kentcard oauth signing keys v1"


@dataclass(frozen=True)
class KeyRecord:
    kid: str
    public_jwk: dict[str, Any]
    signs_from: datetime
    created_at: datetime
    encrypted: bytes


@dataclass(frozen=True)
class KeyStatus:
    kid: str
    created_at: datetime
    signs_from: datetime
    #: "next" (published, not signing yet), "signing", "retiring" (published, no longer
    #: signing) or "retired" (no longer published).
    status: str
    published_until: datetime | None


def _cipher(secret_key: str) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(
        secret_key.encode()
    )
    return AESGCM(key)


def encrypt_private_key(secret_key: str, kid: str, pem: bytes) -> bytes:
    nonce = os.urandom(12)
    return nonce + _cipher(secret_key).encrypt(nonce, pem, kid.encode())


def decrypt_private_key(secret_key: str, kid: str, blob: bytes) -> bytes:
    return _cipher(secret_key).decrypt(blob[:12], blob[12:], kid.encode())


class KeyStore:
    """The signing keys of one app: cached rows, cached decrypted private keys."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self._engine = engine
        self._settings = settings
        self._lock = threading.Lock()
        self._records: list[KeyRecord] = []
        self._loaded_at = float("-inf")
        self._private: dict[str, ECKey] = {}
        #: Claims of access tokens already verified against these keys, by token
        #: (:func:`idservice.oauth.tokens.verified_claims`); emptied whenever the keys
        #: are read afresh and differ, or the cache is reset.
        self.verified_tokens: dict[str, dict[str, Any]] = {}

    # -- reading --------------------------------------------------------------------

    def reset(self) -> None:
        """Forget the cache (after a rotation here, and between tests)."""
        with self._lock:
            self._records = []
            self._loaded_at = float("-inf")
            self._private.clear()
            self.verified_tokens.clear()

    def _load(self, force: bool = False) -> list[KeyRecord]:
        clock = time.monotonic()
        if not force and clock - self._loaded_at < REFRESH_SECONDS and self._records:
            return self._records
        with self._lock:
            if not force and clock - self._loaded_at < REFRESH_SECONDS and self._records:
                return self._records
            with Session(self._engine) as session:
                rows = session.scalars(select(SigningKey).order_by(SigningKey.signs_from)).all()
                records = [
                    KeyRecord(
                        r.kid, r.public_jwk, r.signs_from, r.created_at, r.private_key_encrypted
                    )
                    for r in rows
                ]
            if not records:
                records = [self._create(utcnow())]
            if [(r.kid, r.signs_from) for r in records] != [
                (r.kid, r.signs_from) for r in self._records
            ]:
                self.verified_tokens.clear()
            self._records = records
            self._loaded_at = clock
            return records

    def _retention(self) -> timedelta:
        s = self._settings
        lifetime = max(s.id_token_lifetime, s.access_token_lifetime)
        return timedelta(seconds=lifetime + REFRESH_SECONDS)

    def statuses(self, now: datetime | None = None) -> list[KeyStatus]:
        """Every key with what it is doing at ``now``: one rule for JWKS and signing."""
        records = self._load()
        now = now or utcnow()
        signing = [r for r in records if r.signs_from <= now]
        current = signing[-1] if signing else None
        result = []
        for index, record in enumerate(records):
            if record.signs_from > now:
                result.append(
                    KeyStatus(record.kid, record.created_at, record.signs_from, "next", None)
                )
            elif record is current:
                result.append(
                    KeyStatus(record.kid, record.created_at, record.signs_from, "signing", None)
                )
            else:
                until = records[index + 1].signs_from + self._retention()
                status = "retiring" if now < until else "retired"
                result.append(
                    KeyStatus(record.kid, record.created_at, record.signs_from, status, until)
                )
        return result

    def signing_key(self, now: datetime | None = None) -> ECKey:
        """The private key that signs now (created if there is none, so no setup needed)."""
        records = self._load()  # may create the first key: read the clock after it
        now = now or utcnow()
        current = [r for r in records if r.signs_from <= now]
        if not current:
            # Only keys that start signing later: nothing has been issued with them yet,
            # but something must sign now; a fresh key is published and used at once.
            with self._lock:
                self._create(now)
            records = self._load(force=True)
            current = [r for r in records if r.signs_from <= now]
        record = current[-1]
        key = self._private.get(record.kid)
        if key is None:
            pem = decrypt_private_key(self._settings.secret_key, record.kid, record.encrypted)
            key = ECKey.import_key(pem, {"kid": record.kid, "alg": ALG, "use": "sig"})
            self._private[record.kid] = key
        return key

    def published(self, now: datetime | None = None) -> list[dict[str, Any]]:
        """Public JWKs in the JWKS: next, signing and retiring keys."""
        by_kid = {r.kid: r for r in self._load()}
        return [
            dict(by_kid[s.kid].public_jwk)
            for s in self.statuses(now)
            if s.status in ("next", "signing", "retiring")
        ]

    def jwks(self, now: datetime | None = None) -> dict[str, Any]:
        return {"keys": self.published(now)}

    def verification_keys(self, kid: str | None = None) -> KeySet:
        """Public keys that tokens may be verified against.

        An unknown ``kid`` forces one re-read (another worker may have just rotated),
        rate-limited by the cache interval so a forged ``kid`` cannot flood the table.
        """
        keys = self.published()
        unknown = kid and all(k.get("kid") != kid for k in keys)
        if unknown and time.monotonic() - self._loaded_at >= 1.0:
            self._load(force=True)
            keys = self.published()
        return KeySet.import_key_set({"keys": keys})

    # -- writing --------------------------------------------------------------------

    def _create(self, signs_from: datetime) -> KeyRecord:
        key = ECKey.generate_key("P-256", {"alg": ALG, "use": "sig"}, private=True)
        kid = key.thumbprint()
        public = key.as_dict(private=False)
        public.update(kid=kid, alg=ALG, use="sig")
        pem = key.as_pem(private=True)
        encrypted = encrypt_private_key(self._settings.secret_key, kid, pem)
        now = utcnow()
        with Session(self._engine) as session, session.begin():
            session.add(
                SigningKey(
                    kid=kid,
                    alg=ALG,
                    public_jwk=public,
                    private_key_encrypted=encrypted,
                    created_at=now,
                    signs_from=signs_from,
                )
            )
        log.info("created signing key %s, signing from %s", kid, signs_from.isoformat())
        return KeyRecord(kid, public, signs_from, now, encrypted)

    def rotate(self, lead: int | None = None) -> KeyRecord:
        """Publish a new key now; it signs after ``lead`` seconds (key_publish_lead)."""
        lead = self._settings.key_publish_lead if lead is None else lead
        self._load()  # so that a first key exists before its successor
        record = self._create(utcnow() + timedelta(seconds=lead))
        self.reset()
        return record
