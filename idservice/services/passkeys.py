"""Passkeys (WebAuthn): a passwordless way to sign in, and a strong second factor.

The browser talks to the authenticator; we hand it options and check what comes back
with py_webauthn. The challenge lives in the signed session cookie, is tied to one
purpose, expires after five minutes and is removed when used, so a response can be
checked once only. User verification (PIN or biometric on the device) is required, which
is why a passkey alone counts as multi-factor.
"""

from __future__ import annotations

import time
from typing import Any

from flask import current_app, session
from sqlalchemy import select
from webauthn import (
    base64url_to_bytes,
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from idservice import audit
from idservice.db import db_session, transactional
from idservice.models.base import utcnow
from idservice.models.residents import PasskeyCredential, Resident
from idservice.services import mail
from idservice.services.residents import dao_get_resident_by_id

REGISTER = "register"
SIGN_IN = "sign-in"
STEP_UP = "step-up"

_SESSION_KEY = "webauthn"
CHALLENGE_LIFETIME = 300
RP_NAME = "Kent account"
_TRANSPORTS = {t.value for t in AuthenticatorTransport}


class PasskeyError(Exception):
    """A passkey could not be used; the message is shown to the resident."""


def dao_get_passkeys(resident_id: str) -> list[PasskeyCredential]:
    rows = db_session.scalars(
        select(PasskeyCredential)
        .where(PasskeyCredential.resident_id == resident_id)
        .order_by(PasskeyCredential.created_at, PasskeyCredential.id)
    )
    return list(rows)


def dao_get_passkey_by_credential_id(credential_id: bytes) -> PasskeyCredential | None:
    return db_session.scalar(
        select(PasskeyCredential).where(PasskeyCredential.credential_id == credential_id)
    )


def _remember(purpose: str, challenge: bytes) -> None:
    session[_SESSION_KEY] = {
        "purpose": purpose,
        "challenge": bytes_to_base64url(challenge),
        "at": int(time.time()),
    }


def _take(purpose: str) -> bytes:
    state = session.pop(_SESSION_KEY, None)
    if (
        not isinstance(state, dict)
        or state.get("purpose") != purpose
        or time.time() - float(state.get("at", 0)) > CHALLENGE_LIFETIME
    ):
        raise PasskeyError("Your passkey request timed out. Try again")
    return base64url_to_bytes(str(state["challenge"]))


def _settings() -> Any:
    return current_app.config["KENTCARD"]


def _descriptors(passkeys: list[PasskeyCredential]) -> list[PublicKeyCredentialDescriptor]:
    return [
        PublicKeyCredentialDescriptor(
            id=p.credential_id,
            transports=[AuthenticatorTransport(t) for t in p.transports if t in _TRANSPORTS],
        )
        for p in passkeys
    ]


def registration_options(resident: Resident) -> str:
    """Options for ``navigator.credentials.create``, as JSON."""
    options = generate_registration_options(
        rp_id=_settings().webauthn_rp_id,
        rp_name=RP_NAME,
        user_id=resident.id.encode(),
        user_name=resident.email or resident.id,
        user_display_name=resident.full_name,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=_descriptors(dao_get_passkeys(resident.id)),
    )
    _remember(REGISTER, options.challenge)
    return options_to_json(options)


@transactional
def finish_registration(resident_id: str, credential: dict[str, Any]) -> PasskeyCredential:
    challenge = _take(REGISTER)
    settings = _settings()
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=settings.webauthn_rp_id,
            expected_origin=settings.webauthn_origin,
            require_user_verification=True,
        )
    except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
        raise PasskeyError("We could not add your passkey. Try again") from exc
    if dao_get_passkey_by_credential_id(verified.credential_id) is not None:
        raise PasskeyError("This passkey is already registered")
    response = credential.get("response")
    raw_transports = response.get("transports") if isinstance(response, dict) else None
    transports = [t for t in raw_transports or [] if isinstance(t, str) and t in _TRANSPORTS]
    passkey = PasskeyCredential(
        resident_id=resident_id,
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        transports=transports,
        nickname=f"Passkey added on {utcnow():%-d %B %Y}",
    )
    db_session.add(passkey)
    audit.record(
        "passkey.added",
        resident_id=resident_id,
        actor_type="resident",
        actor_id=resident_id,
        channel="web",
        details={"method": "passkey"},
    )
    resident = dao_get_resident_by_id(resident_id)
    if resident.email:
        mail.queue(resident.email, "second_factor_changed", change="added a passkey")
    return passkey


def authentication_options(purpose: str, resident: Resident | None = None) -> str:
    """Options for ``navigator.credentials.get``, as JSON.

    For sign-in no credentials are listed (the passkey says whose it is); for step-up only
    the signed-in resident's passkeys are allowed.
    """
    allow = _descriptors(dao_get_passkeys(resident.id)) if resident is not None else []
    options = generate_authentication_options(
        rp_id=_settings().webauthn_rp_id,
        allow_credentials=allow,
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    _remember(purpose, options.challenge)
    return options_to_json(options)


def verify_authentication(
    credential: dict[str, Any], purpose: str, resident_id: str | None = None
) -> Resident:
    """The resident whose passkey signed the challenge; the caller commits the new count."""
    challenge = _take(purpose)
    settings = _settings()
    try:
        raw_id = base64url_to_bytes(str(credential.get("rawId") or credential.get("id") or ""))
    except ValueError as exc:
        raise PasskeyError("We could not check your passkey. Try again") from exc
    stored = dao_get_passkey_by_credential_id(raw_id) if raw_id else None
    if stored is None or (resident_id is not None and stored.resident_id != resident_id):
        raise PasskeyError("That passkey is not registered with your Kent account")
    response = credential.get("response")
    handle = response.get("userHandle") if isinstance(response, dict) else None
    try:
        if handle and base64url_to_bytes(str(handle)) != stored.resident_id.encode():
            raise PasskeyError("That passkey is not registered with your Kent account")
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=settings.webauthn_rp_id,
            expected_origin=settings.webauthn_origin,
            credential_public_key=stored.public_key,
            credential_current_sign_count=stored.sign_count,
            require_user_verification=True,
        )
    except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
        raise PasskeyError("We could not check your passkey. Try again") from exc
    resident = dao_get_resident_by_id(stored.resident_id)
    if not resident.is_active:
        raise PasskeyError("That passkey is not registered with your Kent account")
    stored.sign_count = verified.new_sign_count
    stored.last_used_at = utcnow()
    return resident


@transactional
def remove(resident_id: str, passkey_id: int) -> bool:
    passkey = db_session.get(PasskeyCredential, passkey_id)
    if passkey is None or passkey.resident_id != resident_id:
        return False
    db_session.delete(passkey)
    audit.record(
        "passkey.removed",
        resident_id=resident_id,
        actor_type="resident",
        actor_id=resident_id,
        channel="web",
        details={"method": "passkey"},
    )
    resident = dao_get_resident_by_id(resident_id)
    if resident.email:
        mail.queue(resident.email, "second_factor_changed", change="removed a passkey")
    return True
