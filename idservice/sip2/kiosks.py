"""Registered library kiosks and their SIP2 logins (``kentcard sip2 kiosks ...``).

A kiosk is a registered client, as a partner service is: an OAuth client row whose name
the resident's "who checked" page shows, which has no grant, scope or secret (it can never
obtain a token), and a ``sip2_kiosks`` row with the SIP2 login. The password is hashed
with argon2id like residents' passwords and shown once, when it is made.

A login (SIP2 message 93) is checked by :func:`authenticate`. After :data:`LOCK_AFTER`
failures from one network address (within :data:`LOCK_FOR` of each other) that address
is locked out of the kiosk's login for :data:`LOCK_FOR`, even with the right password.
The lock is per address so that someone elsewhere on the library network cannot lock
the kiosk out at its own address; the password (24 random characters) is beyond
guessing anyway, so the lock is there to stop a misconfigured or hostile client, and to
make it visible. Failures, locks, registrations and changes are audited.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from idservice import audit
from idservice.db import db_session, transactional
from idservice.models.base import utcnow
from idservice.models.oauth import OAuthClient
from idservice.models.sip2 import NAME_FORMATS, PIN_MODES, Sip2Kiosk
from idservice.oauth import dao as oauth_dao
from idservice.partner_api.checks import catalogue
from idservice.services import passwords
from idservice.sip2 import dao

#: Failed logins in a row that lock a kiosk, and for how long.
LOCK_AFTER = 5
LOCK_FOR = timedelta(minutes=15)
#: A SIP2 login user id: what a kiosk's configuration screen accepts everywhere.
LOGIN_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


class KioskError(ValueError):
    """A kiosk that must not be registered or changed; the message says why."""


@dataclass(frozen=True)
class Kiosk:
    """A logged-in kiosk as the bridge uses it (no secret)."""

    client_id: str
    name: str
    login: str
    location: str
    institution_id: str
    service: str
    name_format: str
    pin_mode: str


@dataclass(frozen=True)
class KioskView:
    """``kentcard sip2 kiosks list``: everything but the password hash."""

    login: str
    name: str
    client_id: str
    location: str
    institution_id: str
    service: str
    name_format: str
    pin_mode: str
    active: bool
    #: Network addresses locked out of this kiosk's login now.
    locked_addresses: int
    last_login_at: str | None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _kiosk(row: Sip2Kiosk, name: str) -> Kiosk:
    return Kiosk(
        row.client_id,
        name,
        row.login,
        row.location,
        row.institution_id,
        row.service,
        row.name_format,
        row.pin_mode,
    )


def _view(row: Sip2Kiosk, client: OAuthClient) -> KioskView:
    return KioskView(
        row.login,
        client.name,
        row.client_id,
        row.location,
        row.institution_id,
        row.service,
        row.name_format,
        row.pin_mode,
        row.active and client.active,
        dao.dao_locked_addresses(row.id, utcnow()),
        row.last_login_at.isoformat() if row.last_login_at else None,
    )


def _checked(values: dict[str, Any]) -> dict[str, Any]:
    """The changeable fields, checked; :class:`KioskError` on the first that is wrong."""
    checked: dict[str, Any] = {}
    for field, value in values.items():
        if value is None:
            continue
        if field == "name":
            value = str(value).strip()
            if not value or len(value) > 200:
                raise KioskError("Name must be 1 to 200 characters.")
        elif field == "location" and len(value) > 200:
            raise KioskError("Location must be at most 200 characters.")
        elif field == "institution_id" and (len(value) > 64 or "|" in value):
            raise KioskError("Institution id must be at most 64 characters, without '|'.")
        elif field == "service" and value not in catalogue().codes:
            raise KioskError(f"Unknown service code: {value}")
        elif field == "name_format" and value not in NAME_FORMATS:
            raise KioskError(f"Name format must be one of {', '.join(NAME_FORMATS)}.")
        elif field == "pin_mode" and value not in PIN_MODES:
            raise KioskError(f"PIN mode must be one of {', '.join(PIN_MODES)}.")
        checked[field] = value
    return checked


def _check_password(password: str) -> str:
    if not 12 <= len(password) <= 64 or "|" in password or not password.isprintable():
        raise KioskError("A kiosk password is 12 to 64 printable characters, without '|'.")
    return password


def _audit(action: str, client_id: str, details: dict[str, Any]) -> None:
    audit.record(
        action,
        resident_id=None,
        actor_type="system",
        actor_id="cli",
        channel="system",
        details={"client_id": client_id, **details},
    )


@transactional
def register_kiosk(
    *,
    name: str,
    login: str,
    location: str = "",
    institution_id: str = "",
    service: str = "library",
    name_format: str = "initials",
    pin_mode: str = "none",
    password: str | None = None,
) -> tuple[KioskView, str]:
    """Register a kiosk; returns it and its password (shown once, never kept)."""
    if not 1 <= len(login) <= 64 or not set(login) <= LOGIN_CHARACTERS:
        raise KioskError("Login must be 1 to 64 letters, digits, '-', '_' or '.'.")
    if dao.dao_get_kiosk(login) is not None:
        raise KioskError(f"A kiosk already logs in as {login}")
    values = _checked(
        {
            "name": name,
            "location": location,
            "institution_id": institution_id,
            "service": service,
            "name_format": name_format,
            "pin_mode": pin_mode,
        }
    )
    secret = _check_password(password) if password is not None else secrets.token_urlsafe(18)
    client_id = f"sip2-{secrets.token_urlsafe(12)}"
    client = oauth_dao.dao_add_client(
        OAuthClient(
            client_id=client_id,
            client_secret_hash=None,
            name=values.pop("name"),
            redirect_uris=[],
            post_logout_redirect_uris=[],
            grant_types=[],
            scope="",
            token_endpoint_auth_method="none",  # noqa: S106 - a method name, not a secret
            sector=f"client:{client_id}",
            active=True,
        )
    )
    row = dao.dao_add_kiosk(
        Sip2Kiosk(
            client_id=client_id,
            login=login,
            password_hash=passwords.hash_password(secret),
            active=True,
            **values,
        )
    )
    _audit("sip2.kiosk_registered", client_id, {"login": login, "fields": sorted(values)})
    return _view(row, client), secret


def _get(login: str) -> tuple[Sip2Kiosk, OAuthClient]:
    row = dao.dao_get_kiosk(login)
    client = dao.dao_get_client_row(row.client_id) if row else None
    if row is None or client is None:
        raise KioskError(f"No kiosk logs in as {login}")
    return row, client


@transactional
def update_kiosk(
    login: str, *, new_password: bool = False, unlock: bool = False, **changes: Any
) -> tuple[list[str], str | None]:
    """Change a kiosk; the names of the fields changed and, with ``new_password``, the
    new password (shown once). A refused value changes nothing."""
    row, client = _get(login)
    changed: list[str] = []
    for field, value in _checked(changes.copy()).items():
        if field == "name":
            if client.name != value:
                client.name = value
                changed.append(field)
        elif getattr(row, field) != value:
            setattr(row, field, value)
            changed.append(field)
    active = changes.get("active")
    if active is not None and row.active != bool(active):
        row.active = bool(active)
        changed.append("active")
    secret = None
    if new_password:
        secret = secrets.token_urlsafe(18)
        row.password_hash = passwords.hash_password(secret)
        changed.append("password")
    if (unlock or new_password) and dao.dao_forget_failures(row.id):
        changed.append("lock")
    if changed:
        _audit("sip2.kiosk_changed", row.client_id, {"login": login, "fields": sorted(changed)})
    return changed, secret


def list_kiosks() -> list[KioskView]:
    return [_view(row, client) for row, client in dao.dao_list_kiosks()]


@dataclass(frozen=True)
class LoginResult:
    kiosk: Kiosk | None
    #: ``ok``, ``unknown``, ``wrong_password``, ``locked`` or ``inactive`` (for the log).
    outcome: str


@transactional
def authenticate(
    login: str, password: str, address: str = "", now: datetime | None = None
) -> LoginResult:
    """Check a SIP2 login from a network ``address``. A password is always verified
    (against a stand-in hash for an unknown login), so the time taken does not tell
    whether a login exists."""
    now = now or utcnow()
    address = address[:64]
    row = dao.dao_get_kiosk(login) if 1 <= len(login) <= 64 else None
    right = passwords.verify_password(row.password_hash if row else None, password)
    if row is None:
        return LoginResult(None, "unknown")
    failure = dao.dao_get_failure(row.id, address)
    if failure is not None and failure.locked_until is not None and failure.locked_until > now:
        return LoginResult(None, "locked")
    if not right:
        if failure is None:
            failure = dao.dao_add_failure(row.id, address)
        elif now - failure.last_failed_at > LOCK_FOR:
            failure.failures = 0  # an old failure no longer counts
        failure.failures += 1
        failure.last_failed_at = now
        locked = failure.failures >= LOCK_AFTER
        failure.locked_until = now + LOCK_FOR if locked else None
        _audit(
            "sip2.kiosk_locked" if locked else "sip2.login_failed",
            row.client_id,
            {"login": login, "failed_logins": failure.failures, "address": address},
        )
        return LoginResult(None, "wrong_password")
    client = oauth_dao.dao_get_client(row.client_id)  # None when withdrawn
    if not row.active or client is None:
        return LoginResult(None, "inactive")
    if failure is not None:
        dao.dao_forget_failures(row.id, address)
    row.last_login_at = now
    return LoginResult(_kiosk(row, client.name), "ok")


def is_active(client_id: str) -> bool:
    """Whether a logged-in kiosk is still registered and active."""
    try:
        return dao.dao_kiosk_is_active(client_id)
    finally:
        db_session.rollback()
