"""Partner records: the OAuth client of a partner service, its contact and its webhook.

Registered with ``kentcard clients create --partner`` (the client and the partner row in
one transaction) and changed with ``kentcard partners update``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from sqlalchemy import select

from entitlements.catalogue import load_catalogue
from idservice import audit
from idservice.db import db_session, transactional
from idservice.models.partners import Partner
from idservice.oauth import clients, dao
from idservice.partners.secevent import EVENT_TYPES


class PartnerError(ValueError):
    """A partner record that must not be saved; the message says why."""


def _development() -> bool:
    settings = current_app.config["KENTCARD"]
    issuer_host = urlsplit(settings.issuer).hostname or ""
    return bool(settings.testing) or clients._is_loopback(issuer_host)


def check_webhook(url: str) -> str:
    """https; plain http only to this machine, and only in development and tests."""
    parts = urlsplit(url)
    if not parts.hostname or parts.fragment or parts.scheme not in ("https", "http"):
        raise PartnerError(f"Webhook URL must be an absolute https URL: {url}")
    if parts.scheme == "http" and not (clients._is_loopback(parts.hostname) and _development()):
        raise PartnerError(f"Webhook URL must use https: {url}")
    if len(url) > 2000:
        raise PartnerError("Webhook URL must be at most 2,000 characters.")
    return url


def check_email(email: str) -> str:
    try:
        return str(validate_email(email, check_deliverability=False).normalized)
    except EmailNotValidError:
        raise PartnerError(f"Contact email is not a valid email address: {email}") from None


def check_services(codes: list[str] | tuple[str, ...]) -> list[str]:
    known = set(load_catalogue().codes)
    unknown = [c for c in codes if c not in known]
    if unknown:
        raise PartnerError(f"Unknown service codes: {' '.join(unknown)}")
    return list(dict.fromkeys(codes))


def check_events(names: list[str] | tuple[str, ...]) -> list[str]:
    unknown = [n for n in names if n not in EVENT_TYPES]
    if unknown:
        raise PartnerError(
            f"Unknown event types: {' '.join(unknown)} (known: {' '.join(EVENT_TYPES)})"
        )
    return list(dict.fromkeys(names))


def add_partner(
    client_id: str,
    *,
    display_name: str,
    contact_email: str,
    webhook_url: str | None,
    services: list[str] | tuple[str, ...] = (),
    events: list[str] | tuple[str, ...] | None = None,
) -> Partner:
    """The partner row for a client just registered; the caller commits."""
    display_name = display_name.strip()
    if not display_name or len(display_name) > 200:
        raise PartnerError("Display name must be 1 to 200 characters.")
    partner = Partner(
        client_id=client_id,
        display_name=display_name,
        contact_email=check_email(contact_email),
        webhook_url=check_webhook(webhook_url) if webhook_url else None,
        services=check_services(services),
        events=check_events(list(EVENT_TYPES) if events is None else events),
        active=True,
    )
    db_session.add(partner)
    db_session.flush()
    _audit("partner.registered", partner, ["display_name", "contact_email", "webhook_url"])
    return partner


@transactional
def register(client: dict[str, Any], partner: dict[str, Any] | None = None) -> clients.Registered:
    """``kentcard clients create``: an OAuth client (``clients.register_client``'s
    arguments) and, for a partner service, its partner record (:func:`add_partner`'s),
    written together or not at all."""
    registered = clients.register_client(**client)
    if partner is not None:
        add_partner(registered.client.client_id, **partner)
    return registered


def _audit(action: str, partner: Partner, fields: list[str]) -> None:
    audit.record(
        action,
        resident_id=None,
        actor_type="system",
        actor_id="cli",
        channel="system",
        details={"client_id": partner.client_id, "fields": sorted(fields)},
    )


@transactional
def update_partner(client_id: str, **changes: Any) -> list[str]:
    """Change a partner's record; the names of the fields that changed.

    A refused value (:class:`PartnerError`) changes nothing: the whole change is rolled back.
    """
    partner = get_partner(client_id)
    checks: dict[str, Any] = {
        "display_name": lambda v: str(v).strip() or _raise("Display name cannot be empty."),
        "contact_email": check_email,
        "webhook_url": lambda v: check_webhook(v) if v else None,
        "services": check_services,
        "events": check_events,
        "active": bool,
    }
    changed = []
    for field, value in changes.items():
        if value is None or field not in checks:
            continue
        checked = checks[field](value)
        if getattr(partner, field) != checked:
            setattr(partner, field, checked)
            changed.append(field)
    if changed:
        _audit("partner.changed", partner, changed)
    return changed


def _raise(message: str) -> str:
    raise PartnerError(message)


def get_partner(client_id: str) -> Partner:
    partner = db_session.scalar(select(Partner).where(Partner.client_id == client_id))
    if partner is None:
        raise PartnerError(f"No partner with client id {client_id}")
    return partner


def dao_list_partners() -> list[Partner]:
    return list(db_session.scalars(select(Partner).order_by(Partner.display_name)))


def dao_partners_by_id() -> dict[int, Partner]:
    return {p.id: p for p in dao_list_partners()}


@dataclass(frozen=True)
class PartnerView:
    client_id: str
    display_name: str
    contact_email: str
    webhook_url: str | None
    services: list[str]
    events: list[str]
    active: bool
    sector: str

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def partner_view(partner: Partner) -> PartnerView:
    client = dao.dao_get_client(partner.client_id)
    return PartnerView(
        partner.client_id,
        partner.display_name,
        partner.contact_email,
        partner.webhook_url,
        list(partner.services),
        list(partner.events),
        partner.active,
        client.sector if client else "",
    )
