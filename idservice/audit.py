"""Recording who looked at or changed a resident's record.

Every service that reads or changes a resident calls :func:`record`; the record is written
in the caller's transaction, so a change and its audit land together or not at all.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from idservice.db import db_session
from idservice.models.audit import CHANNELS, AuditRecord


def record(
    action: str,
    *,
    resident_id: str | None,
    actor_type: str,
    actor_id: str | None,
    channel: str,
    details: dict[str, Any] | None = None,
    reason: str | None = None,
) -> AuditRecord:
    """Add an audit record to the current transaction.

    ``details`` must hold no personal data: field names, not their values.
    """
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    entry = AuditRecord(
        action=action,
        resident_id=resident_id,
        actor_type=actor_type,
        actor_id=actor_id,
        channel=channel,
        details=details or {},
        reason=reason,
    )
    db_session.add(entry)
    return entry


def dao_get_audit_for_resident(resident_id: str, limit: int = 100) -> list[AuditRecord]:
    rows = db_session.scalars(
        select(AuditRecord)
        .where(AuditRecord.resident_id == resident_id)
        .order_by(AuditRecord.at.desc(), AuditRecord.id.desc())
        .limit(limit)
    )
    return list(rows)
