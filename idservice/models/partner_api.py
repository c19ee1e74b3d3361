"""The partner entitlement API's own tables: who checked what, and pairwise subjects.

``partner_queries`` records every partner check (the client, the resident when one was
found, the service, the answer, the time) so the resident can see it on their account.
It never holds a card number: the resident id is enough, and a card number is not
something a resident's "who checked" page needs.

``pairwise_subjects`` remembers each pairwise subject identifier we have released to a
sector, so a partner can check by the ``sub`` it was given. A pairwise ``sub`` is an HMAC
and cannot be reversed; a ``sub`` we never released cannot resolve, nor can one released
to another sector.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from idservice.models.base import Base, utcnow
from idservice.models.types import UTCDateTime

#: How a partner named the resident in a check (``kiosk`` and ``kiosk_card_pin``: a
#: library kiosk's look-up through the SIP2 bridge, by card, or by card and its PIN).
LOOKED_UP_BY = ("card_number", "subject", "kiosk", "kiosk_card_pin")


class PartnerQuery(Base):
    __tablename__ = "partner_queries"
    __table_args__ = (Index("ix_partner_queries_resident_id_at", "resident_id", "at"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    client_id: Mapped[str] = mapped_column(String(64))
    # None when the card number or subject did not resolve to anyone.
    resident_id: Mapped[str | None] = mapped_column(ForeignKey("residents.id", ondelete="CASCADE"))
    service: Mapped[str] = mapped_column(String(128))
    looked_up_by: Mapped[str] = mapped_column(String(16))
    entitled: Mapped[bool] = mapped_column(Boolean)
    result: Mapped[str] = mapped_column(String(32))


class PairwiseSubject(Base):
    __tablename__ = "pairwise_subjects"

    sector: Mapped[str] = mapped_column(String(255), primary_key=True)
    subject: Mapped[str] = mapped_column(String(64), primary_key=True)
    resident_id: Mapped[str] = mapped_column(
        ForeignKey("residents.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
