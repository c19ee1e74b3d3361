"""Identity evidence seen by staff or checked by a trusted partner.

A document's reference (passport number, licence number...) is never stored whole: only
its last four characters, to help staff recognise it, and a keyed hash, so the same
document can be recognised again (de-duplication) without the number being readable. The
rules that turn evidence into a resident's identity level are in
:mod:`idservice.staff.identity` and docs/identity-assurance.md.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from idservice.models.base import Base, utcnow
from idservice.models.types import UTCDateTime

LEVEL_SELF_DECLARED = "self-declared"
LEVEL_DOCUMENTS_SEEN = "documents-seen"
LEVEL_PARTNER_VERIFIED = "partner-verified"
#: Weakest first.
IDENTITY_LEVELS = (LEVEL_SELF_DECLARED, LEVEL_DOCUMENTS_SEEN, LEVEL_PARTNER_VERIFIED)


class IdentityEvidence(Base):
    __tablename__ = "identity_evidence"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resident_id: Mapped[str] = mapped_column(
        ForeignKey("residents.id", ondelete="CASCADE"), index=True
    )
    # A key of idservice.staff.identity.DOCUMENT_TYPES.
    document_type: Mapped[str] = mapped_column(String(40))
    reference_last4: Mapped[str] = mapped_column(String(4))
    # HMAC-SHA256 of the normalised reference under the app's secret, hex.
    reference_hash: Mapped[str] = mapped_column(String(64), index=True)
    checked_by_staff_id: Mapped[str] = mapped_column(
        ForeignKey("staff_members.id", ondelete="RESTRICT"), index=True
    )
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    channel: Mapped[str] = mapped_column(String(16))
