"""Residents: data access (``dao_*``) and the services built on it."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select

from idservice import audit
from idservice.db import db_session
from idservice.models.residents import Resident
from idservice.services import facts
from idservice.services.passwords import hash_password


class NotFound(LookupError):
    """A row that should exist does not; mapped to 404 by the error handlers."""


def dao_get_resident_by_id(resident_id: str) -> Resident:
    resident = db_session.get(Resident, resident_id)
    if resident is None:
        raise NotFound("resident")
    return resident


def dao_get_resident_by_email(email: str) -> Resident | None:
    return db_session.scalar(select(Resident).where(Resident.email == email.lower()))


def create_resident(
    *,
    given_name: str,
    family_name: str,
    date_of_birth: date,
    address_line_1: str,
    town: str,
    postcode: str,
    email: str | None = None,
    password: str | None = None,
    phone: str | None = None,
    address_line_2: str | None = None,
    actor_type: str = "resident",
    actor_id: str | None = None,
    channel: str = "web",
    reason: str | None = None,
    audit_details: dict[str, Any] | None = None,
    **extra: Any,
) -> Resident:
    """Add a resident and its audit record to the session; the caller commits.

    ``audit_details`` adds non-personal detail about the actor (a staff member's role).
    """
    resident = Resident(
        given_name=given_name,
        family_name=family_name,
        date_of_birth=date_of_birth,
        address_line_1=address_line_1,
        address_line_2=address_line_2,
        town=town,
        postcode=postcode,
        email=email.lower() if email else None,
        password_hash=hash_password(password) if password else None,
        phone=phone,
        alternative_formats=[],
        **extra,
    )
    db_session.add(resident)
    db_session.flush()
    audit.record(
        "resident.created",
        resident_id=resident.id,
        actor_type=actor_type,
        actor_id=actor_id if actor_id is not None else resident.id,
        channel=channel,
        details={
            **(audit_details or {}),
            "fields": sorted(k for k, v in _fields(resident).items() if v),
        },
        reason=reason,
    )
    recorder = facts.Recorder(
        actor_type,
        actor_id if actor_id is not None else resident.id,
        channel,
        staff_role=(audit_details or {}).get("staff_role"),
        reason=reason,
    )
    facts.record_from_resident(resident, ["date_of_birth", "postcode"], recorder, new_record=True)
    return resident


def _fields(resident: Resident) -> dict[str, Any]:
    return {
        "given_name": resident.given_name,
        "family_name": resident.family_name,
        "date_of_birth": resident.date_of_birth,
        "email": resident.email,
        "phone": resident.phone,
        "address_line_1": resident.address_line_1,
        "address_line_2": resident.address_line_2,
        "town": resident.town,
        "postcode": resident.postcode,
    }
