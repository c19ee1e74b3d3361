"""Possible duplicates: two records that may belong to one person, waiting for staff.

Registration (:mod:`idservice.services.duplicates`) adds a row when a new record has the
same date of birth as an existing one and a close name at the same postcode or address.
A Gateway officer looks at both and says they are different people, or merges them.
A row holds references and a reason code, never a name or an address: those stay in
``residents``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from idservice.models.base import Base, new_uuid, utcnow
from idservice.models.types import UTCDateTime

DUPLICATE_OPEN = "open"
DUPLICATE_NOT_SAME = "resolved-not-same"
DUPLICATE_MERGED = "resolved-merged"
DUPLICATE_STATUSES = (DUPLICATE_OPEN, DUPLICATE_NOT_SAME, DUPLICATE_MERGED)


class PossibleDuplicate(Base):
    __tablename__ = "possible_duplicates"
    __table_args__ = (
        CheckConstraint(
            "status IN ('open', 'resolved-not-same', 'resolved-merged')", name="status"
        ),
        CheckConstraint("score BETWEEN 0 AND 1", name="score"),
        UniqueConstraint("new_resident_id", "existing_resident_id"),
        Index("ix_possible_duplicates_status_found_at", "status", "found_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    #: The record just created (looked up through the unique pair, which starts with it).
    new_resident_id: Mapped[str] = mapped_column(ForeignKey("residents.id", ondelete="CASCADE"))
    #: The record that was there before, with the same date of birth.
    existing_resident_id: Mapped[str] = mapped_column(
        ForeignKey("residents.id", ondelete="CASCADE"), index=True
    )
    #: From 0 to 1 (idservice.services.name_matching); two decimal places.
    score: Mapped[float] = mapped_column(Numeric(3, 2, asdecimal=False))
    #: A reason code from name_matching.REASON_WORDS and a place from PLACE_WORDS.
    reason: Mapped[str] = mapped_column(String(32))
    place: Mapped[str] = mapped_column(String(32))
    #: The reason in words, without personal values ("same date of birth, same postcode,
    #: a close name (0.97)").
    reason_words: Mapped[str] = mapped_column(String(200))
    found_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: How the new record came in: web, face-to-face, phone, staff-assisted or system.
    channel: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(24), default=DUPLICATE_OPEN)
    #: Who decided, when set by the staff console (the command line's operator is named in
    #: the audit record instead).
    resolved_by_staff_id: Mapped[str | None] = mapped_column(
        ForeignKey("staff_members.id", ondelete="RESTRICT")
    )
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Why they are different people, as the member of staff wrote it.
    note: Mapped[str | None] = mapped_column(String(300))
