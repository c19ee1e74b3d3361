"""Facts about residents: one row per verified attribute, with where it came from.

A new value never overwrites an old one: the old row gets ``superseded_at`` and the new
row is added, so the history of what we knew, from whom and when, is kept. The value is
JSON in the shape :mod:`entitlements.codec` defines. Evidence is a document *type* and the
last four characters of its reference (as ``identity_evidence`` keeps it), never the
whole number. Rows go with the resident (``ON DELETE CASCADE``) when a record is erased.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from idservice.models.base import Base, utcnow
from idservice.models.types import UTCDateTime

#: Who recorded a fact.
RECORDED_BY_TYPES = ("resident", "staff", "partner", "system")


class ResidentFact(Base):
    __tablename__ = "resident_facts"
    __table_args__ = (
        CheckConstraint("level BETWEEN 1 AND 3", name="level"),
        CheckConstraint(
            "recorded_by_type IN ('resident', 'staff', 'partner', 'system')",
            name="recorded_by_type",
        ),
        # The current facts of a resident: the query every eligibility decision makes.
        Index("ix_resident_facts_current", "resident_id", "superseded_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resident_id: Mapped[str] = mapped_column(ForeignKey("residents.id", ondelete="CASCADE"))
    #: An :class:`entitlements.facts.FactName` value.
    name: Mapped[str] = mapped_column(String(32))
    value: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: A key of :data:`idservice.services.facts.SOURCES`.
    source: Mapped[str] = mapped_column(String(32))
    #: :class:`entitlements.facts.VerificationLevel`: 1 declared, 2 checked, 3 verified.
    level: Mapped[int] = mapped_column(Integer)
    recorded_by_type: Mapped[str] = mapped_column(String(16))
    #: The resident's id, a staff member's id, a partner's client id, or "system".
    recorded_by_id: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_on: Mapped[date | None] = mapped_column(Date)
    #: A key of :data:`idservice.services.facts.EVIDENCE_TYPES`, and the reference's last 4.
    evidence_type: Mapped[str | None] = mapped_column(String(40))
    evidence_last4: Mapped[str | None] = mapped_column(String(4))
    superseded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
