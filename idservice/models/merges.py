"""Two resident records found to be one person, joined by staff, and how to undo it.

A row says who merged which record (``merged_id``) into which (``survivor_id``), when
and why, and exactly what moved (``moved``: row ids, ledger sequence numbers, partners
told), so that an undo within the configured number of days can put back what moved and
nothing else. It holds no personal values: ids, service codes, dates.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from idservice.models.base import Base, new_uuid, utcnow
from idservice.models.types import UTCDateTime


class ResidentMerge(Base):
    __tablename__ = "resident_merges"
    __table_args__ = (
        CheckConstraint("survivor_id <> merged_id", name="two_records"),
        # A record is merged once at a time: two members of staff merging the same
        # record at once cannot both succeed.
        Index(
            "uq_resident_merges_one_open",
            "merged_id",
            unique=True,
            sqlite_where=text("undone_at IS NULL"),
            postgresql_where=text("undone_at IS NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    survivor_id: Mapped[str] = mapped_column(ForeignKey("residents.id"), index=True)
    merged_id: Mapped[str] = mapped_column(ForeignKey("residents.id"), index=True)
    staff_id: Mapped[str] = mapped_column(ForeignKey("staff_members.id", ondelete="RESTRICT"))
    staff_role: Mapped[str] = mapped_column(String(32))
    #: How the member of staff was helping the resident (face-to-face, phone).
    channel: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(500))
    merged_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: What moved, by id (see :mod:`idservice.services.merges`).
    moved: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    ledger_seqs: Mapped[list[int]] = mapped_column(JSON, default=list)
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    undone_by_staff_id: Mapped[str | None] = mapped_column(
        ForeignKey("staff_members.id", ondelete="RESTRICT")
    )
    undo_reason: Mapped[str | None] = mapped_column(String(500))
    #: What the undo did (entitlements put back, those it could not), for the page.
    undo: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    undo_ledger_seqs: Mapped[list[int]] = mapped_column(JSON, default=list)
