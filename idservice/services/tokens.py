"""Signed, time-limited tokens for links sent by email.

Each token is signed with the app's secret and a purpose-specific salt, so a token made
for one journey cannot be used for another. Tokens embed a fingerprint of the state they
act on (the password hash, the current email address), so once that state changes the
token stops working: every link is single-use without storing anything.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer

CONFIRM_EMAIL = "confirm-email"
RESET_PASSWORD = "reset-password"  # noqa: S105 - a purpose name, not a secret
CHANGE_EMAIL = "change-email"
UNDO_EMAIL_CHANGE = "undo-email-change"

#: How long each kind of link works, in seconds.
MAX_AGE = {
    CONFIRM_EMAIL: 3 * 24 * 3600,
    RESET_PASSWORD: 2 * 3600,
    CHANGE_EMAIL: 24 * 3600,
    UNDO_EMAIL_CHANGE: 7 * 24 * 3600,
}


def _secret() -> bytes:
    return str(current_app.config["SECRET_KEY"]).encode()


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(_secret(), salt=f"kentcard.{purpose}")


def fingerprint(value: str | None) -> str:
    """A short keyed hash of ``value``: reveals nothing, changes when ``value`` does."""
    digest = hmac.new(_secret(), (value or "").encode(), hashlib.sha256).hexdigest()
    return digest[:24]


def make(purpose: str, payload: dict[str, Any]) -> str:
    return str(_serializer(purpose).dumps(payload))


def load(purpose: str, token: str) -> dict[str, Any] | None:
    """The payload, or ``None`` when the token is forged, for another purpose or too old."""
    if len(token) > 2000:
        return None
    try:
        payload = _serializer(purpose).loads(token, max_age=MAX_AGE[purpose])
    except BadSignature:  # includes SignatureExpired
        return None
    return payload if isinstance(payload, dict) else None


def _fernet() -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"kentcard.seal").derive(
        _secret()
    )
    return Fernet(base64.urlsafe_b64encode(key))


def seal(text: str) -> str:
    """Encrypt personal data that must travel inside a link (a new email address).

    Signed tokens are readable by anyone who sees the link, including web server logs.
    """
    return _fernet().encrypt(text.encode()).decode()


def unseal(sealed: str) -> str | None:
    try:
        return _fernet().decrypt(sealed.encode()).decode()
    except (InvalidToken, ValueError):
        return None
