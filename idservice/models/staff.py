"""Council staff who use the staff console, and their browser sessions.

Staff are not residents: they have their own table, their own session table and their own
cookie key, so a staff sign-in can never be taken for a resident's and the other way
round. Roles are stored by value; what each role may do is in
:mod:`idservice.staff.permissions`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from idservice.models.base import Base, SessionRow, new_uuid, utcnow
from idservice.models.types import UTCDateTime
from idservice.sealed import SealedString


class StaffMember(Base):
    __tablename__ = "staff_members"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    email: Mapped[str] = mapped_column(String(254), unique=True, index=True)
    name: Mapped[str] = mapped_column(String(200))
    # A value of idservice.staff.permissions.Role.
    role: Mapped[str] = mapped_column(String(32))
    password_hash: Mapped[str] = mapped_column(String(255))
    # The second factor is required: a secret is stored at the first sign-in and only
    # counts once a code from it has been entered (totp_enabled_at set).
    # Sealed at rest (idservice/sealed.py); the attribute holds the plain base32 secret.
    totp_secret: Mapped[str | None] = mapped_column(SealedString(160, "staff_members.totp_secret"))
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_signed_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class StaffSession(SessionRow, Base):
    """A signed-in staff browser; the cookie holds only its random id (key ``staff_sid``).

    Created only after the password and a code from the authenticator app, so every row is
    a two-factor session.
    """

    __tablename__ = "staff_sessions"

    staff_id: Mapped[str] = mapped_column(
        ForeignKey("staff_members.id", ondelete="CASCADE"), index=True
    )
