"""Notices to residents and the services offered to them.

A :class:`Notice` is one thing we told a resident (an entitlement ended or ending, a
decision on their request, a service they can now get, a renewal coming up), through the
channel they can be reached by: an email (the body goes to ``outbound_emails`` in the same
transaction) or a letter, queued as "to post" until the print run marks it posted. The
``context`` holds what the words are made from (service names, dates, reasons), never a
name or an address: a letter is addressed from the record when it is printed, so it goes
to where the resident lives then. ``dedupe_key`` makes a notice that a job may try to send
twice (the daily sweep after a crash) go out once.

A :class:`ServiceOffer` is a service the resident has become able to get and has not
taken: shown on their account and to staff who open the record, until they take it, say
they are not interested (then not offered again until ``declined_until``), or it is no
longer open to them. At most one offer per resident and service is open at a time.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from idservice.models.base import Base, utcnow
from idservice.models.types import UTCDateTime

NOTICE_EMAIL = "email"
NOTICE_LETTER = "letter"
#: Email: in the mail outbox. Letter: waiting for the print run, then posted.
NOTICE_QUEUED = "queued"
NOTICE_TO_POST = "to-post"
NOTICE_POSTED = "posted"

OFFER_OPEN = "open"
OFFER_TAKEN = "taken"
OFFER_DECLINED = "declined"
OFFER_WITHDRAWN = "withdrawn"


class Notice(Base):
    __tablename__ = "notices"
    __table_args__ = (
        CheckConstraint("channel IN ('email', 'letter')", name="channel"),
        CheckConstraint("status IN ('queued', 'to-post', 'posted')", name="status"),
        Index("ix_notices_resident_created", "resident_id", "created_at"),
        Index("ix_notices_channel_status", "channel", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resident_id: Mapped[str] = mapped_column(ForeignKey("residents.id", ondelete="CASCADE"))
    #: A key of :data:`idservice.services.notices.KINDS`.
    kind: Mapped[str] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(8))
    #: What the words are made from: service names, dates in words, reasons. No name or address.
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: The formats the resident asked for when it was sent (large print, Easy Read ...).
    formats: Mapped[list[str]] = mapped_column(JSON, default=list)
    email_id: Mapped[int | None] = mapped_column(
        ForeignKey("outbound_emails.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    posted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Set by senders that may run twice (the sweep): the same key is sent once.
    dedupe_key: Mapped[str | None] = mapped_column(String(160), unique=True)


class ServiceOffer(Base):
    __tablename__ = "service_offers"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'taken', 'declined', 'withdrawn')", name="status"),
        Index(
            "uq_service_offers_one_open",
            "resident_id",
            "service",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
        Index("ix_service_offers_resident_service", "resident_id", "service"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resident_id: Mapped[str] = mapped_column(ForeignKey("residents.id", ondelete="CASCADE"))
    #: A service code from the catalogue.
    service: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(12), default=OFFER_OPEN)
    offered_on: Mapped[date] = mapped_column(Date)
    #: True when the rules are met but the service needs proof we have not seen yet.
    needs_evidence: Mapped[bool] = mapped_column(Boolean, default=False)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: "Not interested": not offered again before this day.
    declined_until: Mapped[date | None] = mapped_column(Date)
