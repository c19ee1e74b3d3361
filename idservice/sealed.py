"""Short secrets sealed at rest (authenticator app secrets), as the signing keys are.

A copy of the database alone must not be enough to produce someone's second-factor codes,
so a TOTP secret is stored only as AES-256-GCM ciphertext under a key derived with HKDF
from the app's ``SECRET_KEY`` (the same secret that protects the OAuth signing keys in
:mod:`idservice.oauth.keys`, with its own HKDF label). The stored text says which key sealed
it::

    v1.<key id>.<base64url(nonce | ciphertext | tag)>

``key id`` is a short fingerprint of the derived key, so after ``SECRET_KEY`` changes the
old one can be listed in ``KENTCARD_SECRET_KEY_FALLBACKS``: values sealed under it still
open, and each is sealed again under the current key the next time it is written
(``kentcard maintenance reseal`` does them all at once). The column and its purpose are
bound in as associated data, so a value copied into another column does not open.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
from collections.abc import Iterable
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

log = logging.getLogger(__name__)

VERSION = "v1"
_HKDF_INFO = b"kentcard sealed secrets v1"
_NONCE = 12
#: Where an app keeps its :class:`SecretBox` (``app.extensions``).
EXTENSION = "kentcard_secret_box"


class SealError(ValueError):
    """A sealed value could not be opened: unknown key, altered, or not sealed at all."""


def _derive(secret_key: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(
        secret_key.encode()
    )


def _key_id(key: bytes) -> str:
    return hashlib.sha256(b"kentcard key id\0" + key).hexdigest()[:8]


def is_sealed(value: str) -> bool:
    """True for text in the sealed form (a base32 TOTP secret never contains a dot)."""
    parts = value.split(".")
    return len(parts) == 3 and parts[0] == VERSION


class SecretBox:
    """Seals with the current key; opens with the current key or any fallback."""

    def __init__(self, secret_key: str, fallbacks: Iterable[str] = ()) -> None:
        current = _derive(secret_key)
        self.key_id = _key_id(current)
        self._current = AESGCM(current)
        self._keys: dict[str, AESGCM] = {}
        for old in fallbacks:
            derived = _derive(old)
            self._keys[_key_id(derived)] = AESGCM(derived)
        self._keys[self.key_id] = self._current

    def seal(self, plaintext: str, purpose: str) -> str:
        nonce = os.urandom(_NONCE)
        box = nonce + self._current.encrypt(nonce, plaintext.encode(), self._aad(purpose))
        encoded = base64.urlsafe_b64encode(box).decode().rstrip("=")
        return f"{VERSION}.{self.key_id}.{encoded}"

    def open(self, sealed: str, purpose: str) -> str:
        if not is_sealed(sealed):
            raise SealError("the value is not sealed")
        _, kid, encoded = sealed.split(".")
        cipher = self._keys.get(kid)
        if cipher is None:
            raise SealError(f"the value was sealed with key {kid}, which is not configured")
        try:
            box = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
            plain = cipher.decrypt(box[:_NONCE], box[_NONCE:], self._aad(purpose))
        except (InvalidTag, ValueError):
            raise SealError(f"the value sealed with key {kid} does not open") from None
        return plain.decode()

    def needs_resealing(self, sealed: str) -> bool:
        """True when the value was sealed under a fallback key."""
        return not sealed.startswith(f"{VERSION}.{self.key_id}.")

    @staticmethod
    def _aad(purpose: str) -> bytes:
        return f"{VERSION}:{purpose}".encode()


def current_box() -> SecretBox:
    """The box of the app in context (set up by :func:`init_app`)."""
    from flask import current_app, has_app_context

    if not has_app_context():
        raise RuntimeError("sealed columns are read and written inside an app context")
    return current_app.extensions[EXTENSION]  # type: ignore[no-any-return]


def init_app(app: Any, secret_key: str, fallbacks: Iterable[str] = ()) -> None:
    app.extensions[EXTENSION] = SecretBox(secret_key, fallbacks)


class SealedString(TypeDecorator[str]):
    """A text column stored sealed; the model attribute holds the plain value.

    ``purpose`` names the column (``"residents.totp_secret"``) and is bound into the seal.
    """

    impl = String
    cache_ok = True

    def __init__(self, length: int, purpose: str) -> None:
        super().__init__(length)
        self.purpose = purpose

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return current_box().seal(str(value), self.purpose)

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        """The plain value; None (and an error in the log) when it does not open.

        Failing closed: an authenticator app whose secret cannot be opened accepts no
        code, while the rest of the record (and the password step) still loads.
        """
        if value is None:
            return None
        try:
            return current_box().open(str(value), self.purpose)
        except SealError as exc:
            log.error("%s cannot be read: %s", self.purpose, exc)
            return None
