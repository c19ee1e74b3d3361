"""Partners, life events told to us once, and the outbox of events for partners.

A partner is an OAuth client (its ``client_id``) with a display name, a contact, a
webhook and what it is subscribed to. Life events and outbox rows refer to a resident by
id only; the outbox holds the partner's pairwise subject identifier, never a name.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from idservice.models.base import Base, new_uuid, utcnow
from idservice.models.types import UTCDateTime

_BIGINT = BigInteger().with_variant(Integer, "sqlite")

DELIVERY_PENDING = "pending"
DELIVERY_DELIVERED = "delivered"
DELIVERY_DEAD = "dead"
DELIVERY_STATUSES = (DELIVERY_PENDING, DELIVERY_DELIVERED, DELIVERY_DEAD)


class Partner(Base):
    """A partner service: who to contact, where to push events, what it wants to hear."""

    __tablename__ = "partners"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(
        ForeignKey("oauth_clients.client_id", ondelete="CASCADE"), unique=True
    )
    display_name: Mapped[str] = mapped_column(String(200))
    contact_email: Mapped[str] = mapped_column(String(254))
    webhook_url: Mapped[str | None] = mapped_column(String(2000))
    #: Service codes (catalogue) the partner serves: it hears of those entitlements ending.
    services: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: Event types (idservice.partners.events.EVENT_TYPES) the partner is sent.
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class LifeEvent(Base):
    """A death, move out of Kent, change of name or address, as it was told to us.

    Holds no personal values: the new name or address is on the resident record; this row
    says what happened, on which date, who told us and which ledger events it wrote.
    """

    __tablename__ = "life_events"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    resident_id: Mapped[str] = mapped_column(ForeignKey("residents.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    occurred_on: Mapped[date] = mapped_column(Date)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: "registrar" (a feed), "staff" or "resident".
    source: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str | None] = mapped_column(String(64))
    #: The notifier's own reference (a registrar's entry number), for tracing a feed row.
    reference: Mapped[str | None] = mapped_column(String(64))
    ledger_seqs: Mapped[list[int]] = mapped_column(JSON, default=list)


class PartnerEvent(Base):
    """One Security Event Token to push to one partner: the outbox row and its delivery.

    Written in the same transaction as the ledger events and the life event that cause
    it. ``jti`` is fixed when the row is written, so every retry sends the same token id
    and a partner can de-duplicate. ``lease_until`` is set by the worker that claims the
    row; a worker that dies leaves the lease to run out and another takes the row again.
    """

    __tablename__ = "partner_events"
    __table_args__ = (Index("ix_partner_events_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(_BIGINT, primary_key=True, autoincrement=True)
    jti: Mapped[str] = mapped_column(String(64), unique=True)
    partner_id: Mapped[int] = mapped_column(
        ForeignKey("partners.id", ondelete="CASCADE"), index=True
    )
    life_event_id: Mapped[str | None] = mapped_column(ForeignKey("life_events.id"), index=True)
    event_type: Mapped[str] = mapped_column(String(64))
    #: The partner's pairwise subject identifier for the resident (never the resident id).
    subject: Mapped[str] = mapped_column(String(64))
    #: The event's claims (the value under its URI in the ``events`` claim).
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default=DELIVERY_PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
