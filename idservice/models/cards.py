"""Kent Cards, the card number counter and the taps readers report online.

A card row refers to its resident by id only. The database itself keeps the rules that
must hold however many staff issue at once: a card number is unique and allocated from a
counter row (never random, never reused), and a resident has at most one active card (a
partial unique index, which both PostgreSQL and SQLite enforce).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from idservice.models.base import Base, new_uuid, utcnow
from idservice.models.types import UTCDateTime

CARD_ORDERED = "ordered"
CARD_PERSONALISED = "personalised"
CARD_ACTIVE = "active"
CARD_HOTLISTED = "hotlisted"
CARD_EXPIRED = "expired"
CARD_REPLACED = "replaced"
CARD_STATUSES = (
    CARD_ORDERED,
    CARD_PERSONALISED,
    CARD_ACTIVE,
    CARD_HOTLISTED,
    CARD_EXPIRED,
    CARD_REPLACED,
)
#: Why a card was hotlisted; shown to readers as "card reported <reason>".
HOTLIST_REASONS = ("lost", "stolen", "damaged")

_STATUS_LIST = ", ".join(f"'{s}'" for s in CARD_STATUSES)
_REASON_LIST = ", ".join(f"'{r}'" for r in HOTLIST_REASONS)


class CardNumberCounter(Base):
    """The next serial number under one issuer prefix: one row per prefix, locked to
    allocate, so two counters can never hand out the same card number."""

    __tablename__ = "card_number_counters"

    issuer_prefix: Mapped[str] = mapped_column(String(12), primary_key=True)
    next_serial: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))


class Card(Base):
    __tablename__ = "cards"
    __table_args__ = (
        CheckConstraint(f"status IN ({_STATUS_LIST})", name="status"),
        CheckConstraint(
            f"hotlist_reason IS NULL OR hotlist_reason IN ({_REASON_LIST})", name="hotlist_reason"
        ),
        Index(
            "uq_cards_one_active_per_resident",
            "resident_id",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    card_number: Mapped[str] = mapped_column(String(19), unique=True)
    resident_id: Mapped[str] = mapped_column(ForeignKey("residents.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=CARD_ORDERED)
    hotlist_reason: Mapped[str | None] = mapped_column(String(16))
    expiry: Mapped[date] = mapped_column(Date)
    # Filled in from the card at personalisation: its own public key (the private half
    # never leaves the card) and the certificate the issuer signed for it.
    public_key: Mapped[bytes | None] = mapped_column(LargeBinary(65))
    certificate: Mapped[bytes | None] = mapped_column(LargeBinary(512))
    issuer_key_id: Mapped[str | None] = mapped_column(String(16))
    ordered_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    issued_by_staff_id: Mapped[str | None] = mapped_column(ForeignKey("staff_members.id"))
    issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status_changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    replaces_id: Mapped[str | None] = mapped_column(String(36))
    replaced_by_id: Mapped[str | None] = mapped_column(String(36))

    @property
    def usable(self) -> bool:
        return self.status == CARD_ACTIVE


class Tap(Base):
    """One online tap decision: which reader, which card, what was decided. No names."""

    __tablename__ = "taps"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    reader_client_id: Mapped[str] = mapped_column(String(64))
    card_number: Mapped[str | None] = mapped_column(String(19), index=True)
    mode: Mapped[str] = mapped_column(String(16))
    decision: Mapped[str] = mapped_column(String(8))
    code: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(200))
