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
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    false,
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
#: Personalisation failed (card pulled out, card fault, another counter won the race): the
#: number is burnt and never used again, the card never worked. A card bureau's "spoiled".
CARD_SPOILED = "spoiled"
CARD_STATUSES = (
    CARD_ORDERED,
    CARD_PERSONALISED,
    CARD_ACTIVE,
    CARD_HOTLISTED,
    CARD_EXPIRED,
    CARD_REPLACED,
    CARD_SPOILED,
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
    # The photo the card bureau prints: a reference into the document store (plain
    # letters, digits and . _ : / -), never the image. None until a photo is captured.
    photo_reference: Mapped[str | None] = mapped_column(String(128))
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
    """One tap decision: which reader, which card, what was decided. No names.

    ``challenge`` is kept for taps whose card signature verified: the unique index on
    (card number, challenge) refuses the same signed answer a second time (replay), and
    also serves the look-up of a card's recent taps.

    A tap the reader decided offline and uploaded later (``POST /api/v1/taps/batch``) has
    the reader's own id for it (``reader_tap_id``, unique per reader, so an upload sent
    twice is recorded once), the reader's decision beside the service's (``reader_*``),
    ``at`` taken from the challenge (when the tap happened, by the reader's clock) and
    ``uploaded_at``. ``follow_up`` marks a tap the reader allowed that the service refuses
    (a card hotlisted after the reader's snapshot): someone has to look at it.
    """

    __tablename__ = "taps"
    __table_args__ = (
        Index("uq_taps_card_number_challenge", "card_number", "challenge", unique=True),
        Index("uq_taps_reader_tap_id", "reader_client_id", "reader_tap_id", unique=True),
        Index(
            "ix_taps_follow_up",
            "reader_client_id",
            sqlite_where=text("follow_up"),
            postgresql_where=text("follow_up"),
        ),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    reader_client_id: Mapped[str] = mapped_column(String(64))
    card_number: Mapped[str | None] = mapped_column(String(19))
    challenge: Mapped[bytes | None] = mapped_column(LargeBinary(16))
    mode: Mapped[str] = mapped_column(String(16))
    decision: Mapped[str] = mapped_column(String(8))
    code: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(200))
    # Offline taps only (None for a tap decided online).
    reader_tap_id: Mapped[str | None] = mapped_column(String(64))
    reader_decision: Mapped[str | None] = mapped_column(String(8))
    reader_code: Mapped[str | None] = mapped_column(String(32))
    reader_reason: Mapped[str | None] = mapped_column(String(200))
    uploaded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # No Python-side default: the lean path's insert leaves the column to the server.
    follow_up: Mapped[bool] = mapped_column(Boolean, server_default=false())


SIGN_IN_PENDING = "pending"  # waiting for the reader
SIGN_IN_ANSWERED = "answered"  # the card signed; waiting for the browser to continue
SIGN_IN_COMPLETED = "completed"  # the browser is signed in: used for good
SIGN_IN_REFUSED = "refused"  # the card was refused (lost, blocked PIN...): used for good
SIGN_IN_STATUSES = (SIGN_IN_PENDING, SIGN_IN_ANSWERED, SIGN_IN_COMPLETED, SIGN_IN_REFUSED)
_SIGN_IN_LIST = ", ".join(f"'{s}'" for s in SIGN_IN_STATUSES)


class CardSignIn(Base):
    """One card + PIN sign-in at a kiosk: a single-use challenge bound to one browser.

    The browser holds a random secret (in its session cookie); only its hash is here. The
    code is what the screen shows for the kiosk's reader to pick the challenge up with.
    """

    __tablename__ = "card_sign_ins"
    __table_args__ = (CheckConstraint(f"status IN ({_SIGN_IN_LIST})", name="status"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    browser_hash: Mapped[str] = mapped_column(String(64))
    challenge: Mapped[bytes] = mapped_column(LargeBinary(16))
    status: Mapped[str] = mapped_column(String(16), default=SIGN_IN_PENDING)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    #: The reader that picked the challenge up; only it may answer.
    reader_client_id: Mapped[str | None] = mapped_column(String(64))
    resident_id: Mapped[str | None] = mapped_column(ForeignKey("residents.id", ondelete="CASCADE"))
    card_id: Mapped[str | None] = mapped_column(String(36))
    #: What the screen says next (wrong PIN, tries left, why the card was refused).
    message: Mapped[str | None] = mapped_column(String(300))
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
