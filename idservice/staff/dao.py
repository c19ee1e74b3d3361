"""Data access for the staff console (``dao_*``): staff, their sessions and evidence."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select

from idservice.db import db_session
from idservice.models.audit import AuditRecord
from idservice.models.evidence import IdentityEvidence
from idservice.models.residents import Resident
from idservice.models.staff import StaffMember
from idservice.services.residents import NotFound


def dao_get_staff_by_id(staff_id: str) -> StaffMember:
    staff = db_session.get(StaffMember, staff_id)
    if staff is None:
        raise NotFound("staff member")
    return staff


def dao_get_staff_by_email(email: str) -> StaffMember | None:
    return db_session.scalar(select(StaffMember).where(StaffMember.email == email.lower()))


def dao_create_staff(**values: Any) -> StaffMember:
    staff = StaffMember(**values)
    db_session.add(staff)
    db_session.flush()
    return staff


def dao_resident_exists(resident_id: str) -> bool:
    return db_session.get(Resident, resident_id) is not None


def dao_get_evidence_for_resident(resident_id: str) -> list[IdentityEvidence]:
    rows = db_session.scalars(
        select(IdentityEvidence)
        .where(IdentityEvidence.resident_id == resident_id)
        .order_by(IdentityEvidence.checked_at.desc(), IdentityEvidence.id.desc())
    )
    return list(rows)


def dao_find_evidence_by_hash(document_type: str, reference_hash: str) -> list[IdentityEvidence]:
    rows = db_session.scalars(
        select(IdentityEvidence).where(
            IdentityEvidence.document_type == document_type,
            IdentityEvidence.reference_hash == reference_hash,
        )
    )
    return list(rows)


def dao_add_evidence(**values: Any) -> IdentityEvidence:
    evidence = IdentityEvidence(**values)
    db_session.add(evidence)
    db_session.flush()
    return evidence


def dao_search_residents(query: Select[Resident], limit: int) -> list[Resident]:
    rows = db_session.scalars(
        query.order_by(Resident.family_name, Resident.given_name, Resident.id).limit(limit)
    )
    return list(rows)


def dao_get_audit_records(resident_id: str | None, limit: int = 100) -> list[AuditRecord]:
    query = select(AuditRecord)
    if resident_id is not None:
        query = query.where(AuditRecord.resident_id == resident_id)
    rows = db_session.scalars(
        query.order_by(AuditRecord.at.desc(), AuditRecord.id.desc()).limit(limit)
    )
    return list(rows)
