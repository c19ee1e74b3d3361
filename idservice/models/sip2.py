"""Library self-service kiosks that speak SIP2 to the bridge (docs/sip2.md).

A kiosk is a registered client: an ``oauth_clients`` row (its name is what the resident's
"who checked" page shows; it has no grant, scope or secret, so it can never obtain a
token) and a ``sip2_kiosks`` row with its SIP2 login. The login password is an argon2id
hash, as residents' passwords are; failed logins from one network address lock that
address out of the kiosk's login for a while (``sip2_login_failures``).

``sip2_pin_proofs`` remembers each card + PIN proof the bridge accepted (the card and the
kiosk's challenge), so that a recorded proof cannot be sent again. It holds the card's
id, never its number; rows older than the challenge window are deleted as new ones come.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from idservice.models.base import Base, utcnow
from idservice.models.types import UTCDateTime

#: How the bridge gives a member's name to the library system (docs/sip2.md).
NAME_FORMATS = ("initials", "initial-family", "family-given", "none")
#: ``card``: the kiosk has a card reader and sends card + PIN proofs; ``none``: it has
#: none, so a PIN it sends cannot be checked here.
PIN_MODES = ("card", "none")

_NAME_LIST = ", ".join(f"'{f}'" for f in NAME_FORMATS)
_PIN_LIST = ", ".join(f"'{m}'" for m in PIN_MODES)


class Sip2Kiosk(Base):
    __tablename__ = "sip2_kiosks"
    __table_args__ = (
        CheckConstraint(f"name_format IN ({_NAME_LIST})", name="name_format"),
        CheckConstraint(f"pin_mode IN ({_PIN_LIST})", name="pin_mode"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(
        ForeignKey("oauth_clients.client_id", ondelete="CASCADE"), unique=True
    )
    #: The SIP2 login user id (field CN of message 93).
    login: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    #: Where the kiosk stands (a library's name or code), sent back as the terminal location.
    location: Mapped[str] = mapped_column(String(200), default="")
    #: The institution id (AO) the bridge answers with.
    institution_id: Mapped[str] = mapped_column(String(64), default="")
    #: The catalogue service that is library membership for this kiosk.
    service: Mapped[str] = mapped_column(String(128), default="library")
    name_format: Mapped[str] = mapped_column(String(16), default="initials")
    pin_mode: Mapped[str] = mapped_column(String(8), default="none")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Sip2LoginFailure(Base):
    """Failed SIP2 logins of one kiosk from one network address, and the lock they cause.

    Kept per address so that failures sent from elsewhere on the library network lock
    out that address only, never the kiosk at its own."""

    __tablename__ = "sip2_login_failures"
    __table_args__ = (
        Index("uq_sip2_login_failures_kiosk_id_address", "kiosk_id", "address", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kiosk_id: Mapped[int] = mapped_column(ForeignKey("sip2_kiosks.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(String(64))
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Sip2PinProof(Base):
    __tablename__ = "sip2_pin_proofs"
    __table_args__ = (
        Index("uq_sip2_pin_proofs_card_id_challenge", "card_id", "challenge", unique=True),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    card_id: Mapped[str] = mapped_column(String(36))
    challenge: Mapped[bytes] = mapped_column(LargeBinary(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
