"""Requests for a service that wait for staff to check evidence before a decision.

A request is made when a resident (or staff for them) applies for a service and meets
its rules on what we know, but the evidence is not yet good enough, or a council
assessment is needed. Staff approve it (the grant goes into the ledger) or refuse it
with a reason the resident is shown. At most one request per resident and service waits
at a time (a partial unique index, enforced by PostgreSQL and SQLite alike).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from idservice.models.base import Base, new_uuid, utcnow
from idservice.models.types import UTCDateTime

REQUEST_WAITING = "waiting"
REQUEST_APPROVED = "approved"
REQUEST_REFUSED = "refused"
REQUEST_WITHDRAWN = "withdrawn"
REQUEST_STATUSES = (REQUEST_WAITING, REQUEST_APPROVED, REQUEST_REFUSED, REQUEST_WITHDRAWN)


class ServiceRequest(Base):
    __tablename__ = "service_requests"
    __table_args__ = (
        CheckConstraint("status IN ('waiting', 'approved', 'refused', 'withdrawn')", name="status"),
        Index(
            "uq_service_requests_one_waiting",
            "resident_id",
            "service",
            unique=True,
            sqlite_where=text("status = 'waiting'"),
            postgresql_where=text("status = 'waiting'"),
        ),
        Index("ix_service_requests_status_expected_by", "status", "expected_by"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    resident_id: Mapped[str] = mapped_column(
        ForeignKey("residents.id", ondelete="CASCADE"), index=True
    )
    #: A service code from the catalogue.
    service: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=REQUEST_WAITING)
    #: web, face-to-face or phone.
    channel: Mapped[str] = mapped_column(String(16))
    #: Set when staff made the request for the resident (staff-assisted).
    requested_by_staff_id: Mapped[str | None] = mapped_column(
        ForeignKey("staff_members.id", ondelete="RESTRICT")
    )
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: When the resident was told to expect a decision (catalogue ``decision_days``).
    expected_by: Mapped[date] = mapped_column(Date)
    #: Fact names still needing evidence or an assessment when the request was made.
    needs: Mapped[list[str]] = mapped_column(JSON, default=list)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by_staff_id: Mapped[str | None] = mapped_column(
        ForeignKey("staff_members.id", ondelete="RESTRICT")
    )
    #: Why it was refused, in words the resident is shown.
    decision_reason: Mapped[str | None] = mapped_column(String(500))
    #: The grant's sequence number in the ledger, once approved.
    ledger_seq: Mapped[int | None] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
