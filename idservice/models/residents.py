"""Residents, their sign-in methods and browser sessions.

Personal data lives in ``residents`` and nowhere else; other tables refer to a resident
by the pseudonymous ``id`` only.
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
    Integer,
    LargeBinary,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from idservice.models.base import Base, SessionRow, new_uuid, utcnow
from idservice.models.evidence import LEVEL_SELF_DECLARED
from idservice.models.types import UTCDateTime
from idservice.sealed import SealedString

RESIDENT_ACTIVE = "active"
RESIDENT_CLOSED = "closed"
RESIDENT_DECEASED = "deceased"
#: Personal data erased at the resident's request (idservice/services/your_data.py).
RESIDENT_ERASED = "erased"
#: Joined into another record by staff (idservice/services/merges.py): ``merged_into_id``
#: names the surviving record; nobody signs in to a merged record.
RESIDENT_MERGED = "merged"
RESIDENT_STATUSES = (
    RESIDENT_ACTIVE,
    RESIDENT_CLOSED,
    RESIDENT_DECEASED,
    RESIDENT_ERASED,
    RESIDENT_MERGED,
)
_STATUS_LIST = ", ".join(f"'{s}'" for s in RESIDENT_STATUSES)

LANGUAGES = {"en": "English", "cy": "Welsh", "pl": "Polish", "ne": "Nepali", "pa": "Punjabi"}
ALTERNATIVE_FORMATS = {
    "large_print": "Large print",
    "easy_read": "Easy Read",
    "audio": "Audio",
    "braille": "Braille",
}


class Resident(Base):
    __tablename__ = "residents"
    __table_args__ = (
        CheckConstraint(f"status IN ({_STATUS_LIST})", name="status"),
        # A merged record always says which record it was merged into, and only it does.
        CheckConstraint(
            "(status = 'merged' AND merged_into_id IS NOT NULL) "
            "OR (status <> 'merged' AND merged_into_id IS NULL)",
            name="merged_into",
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    # Nullable: a resident who never goes online may be registered by staff without one.
    email: Mapped[str | None] = mapped_column(String(254), unique=True, index=True)
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    password_hash: Mapped[str | None] = mapped_column(String(255))
    given_name: Mapped[str] = mapped_column(String(100))
    family_name: Mapped[str] = mapped_column(String(100))
    # Indexed for the staff console's name and date of birth search.
    date_of_birth: Mapped[date] = mapped_column(Date, index=True)
    phone: Mapped[str | None] = mapped_column(String(32))
    address_line_1: Mapped[str] = mapped_column(String(200))
    address_line_2: Mapped[str | None] = mapped_column(String(200))
    town: Mapped[str] = mapped_column(String(100))
    postcode: Mapped[str] = mapped_column(String(8), index=True)
    uprn: Mapped[str | None] = mapped_column(String(12))
    language: Mapped[str] = mapped_column(String(8), default="en")
    alternative_formats: Mapped[list[str]] = mapped_column(JSON, default=list)
    text_relay: Mapped[bool] = mapped_column(Boolean, default=False)
    # Sealed at rest (idservice/sealed.py); the attribute holds the plain base32 secret.
    totp_secret: Mapped[str | None] = mapped_column(SealedString(160, "residents.totp_secret"))
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The last TOTP time-step used, so a code cannot be replayed within its window.
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=RESIDENT_ACTIVE)
    # How well the resident's identity was checked (models/evidence.py IDENTITY_LEVELS),
    # derived from their identity evidence by idservice.staff.identity; never typed in.
    identity_level: Mapped[str] = mapped_column(
        String(24), default=LEVEL_SELF_DECLARED, server_default=LEVEL_SELF_DECLARED
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The surviving record, while this one is merged into it (``resident_merges``).
    merged_into_id: Mapped[str | None] = mapped_column(ForeignKey("residents.id"))

    passkeys: Mapped[list[PasskeyCredential]] = relationship(
        back_populates="resident", cascade="all, delete-orphan"
    )

    @property
    def full_name(self) -> str:
        return f"{self.given_name} {self.family_name}"

    @property
    def is_active(self) -> bool:
        return self.status == RESIDENT_ACTIVE

    def address_claim(self) -> dict[str, Any]:
        lines = [self.address_line_1, self.address_line_2 or ""]
        street = "\n".join(line for line in lines if line)
        return {
            "formatted": "\n".join([street, self.town, self.postcode]),
            "street_address": street,
            "locality": self.town,
            "postal_code": self.postcode,
            "country": "GB",
        }


class PasskeyCredential(Base):
    """A WebAuthn credential (passkey) registered by a resident."""

    __tablename__ = "passkey_credentials"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resident_id: Mapped[str] = mapped_column(
        ForeignKey("residents.id", ondelete="CASCADE"), index=True
    )
    credential_id: Mapped[bytes] = mapped_column(LargeBinary(1024), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary(2048))
    sign_count: Mapped[int] = mapped_column(Integer, default=0)
    transports: Mapped[list[str]] = mapped_column(JSON, default=list)
    nickname: Mapped[str] = mapped_column(String(100), default="Passkey")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    resident: Mapped[Resident] = relationship(back_populates="passkeys")


class ResidentSession(SessionRow, Base):
    """A signed-in browser session; the cookie holds only its random id.

    Server-side so that signing out, closing an account or RP-initiated logout ends the
    session everywhere, and so the ID token's ``auth_time``/``acr``/``amr`` are known.
    """

    __tablename__ = "resident_sessions"

    resident_id: Mapped[str] = mapped_column(
        ForeignKey("residents.id", ondelete="CASCADE"), index=True
    )
    acr: Mapped[str] = mapped_column(String(64))
    amr: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SignInFailure(Base):
    """A failed sign-in, keyed by a hash of the email so unknown addresses count too."""

    __tablename__ = "sign_in_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_key: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
