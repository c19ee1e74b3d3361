"""The reader fleet: card readers on buses and at library desks, and what each last said.

A reader is an OAuth client (client credentials, ``taps:write``) with a row here: where
it is, who runs it (for transport: the bus operator and, where known, the route or the
vehicle) and its mode. Each contact (``POST /api/v1/taps/batch`` and ``POST
/api/v1/readers/status``) updates what the reader reported: its snapshot version, how
many taps it still has queued and its clock, kept as the drift from the service's clock,
with counts of the offline taps it uploaded (recorded, flagged for follow-up, refused).
No resident data.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from idservice.models.base import Base, utcnow
from idservice.models.types import UTCDateTime

_BIGINT = BigInteger().with_variant(Integer, "sqlite")
#: The reader modes (cardio.decision.Mode; idservice.cards.decisions.MODE_SERVICES).
READER_MODES = ("library", "transport")
_MODE_LIST = ", ".join(f"'{m}'" for m in READER_MODES)


class Reader(Base):
    __tablename__ = "readers"
    __table_args__ = (CheckConstraint(f"mode IN ({_MODE_LIST})", name="mode"),)

    client_id: Mapped[str] = mapped_column(
        ForeignKey("oauth_clients.client_id", ondelete="CASCADE"), primary_key=True
    )
    mode: Mapped[str] = mapped_column(String(16))
    location: Mapped[str] = mapped_column(String(200))
    #: Who runs it: a bus operator, a library service.
    operator: Mapped[str | None] = mapped_column(String(200))
    route: Mapped[str | None] = mapped_column(String(64))
    vehicle: Mapped[str | None] = mapped_column(String(64))
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # What the reader said at its last contact (None: never heard from).
    last_contact_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    snapshot_version: Mapped[str | None] = mapped_column(String(64))
    queued_taps: Mapped[int | None] = mapped_column(_BIGINT)
    #: The reader's clock less the service's when its last report arrived, in ms.
    clock_drift_ms: Mapped[int | None] = mapped_column(_BIGINT)
    # Offline taps it uploaded, counted as the service answered them.
    taps_recorded: Mapped[int] = mapped_column(_BIGINT, default=0, server_default=text("0"))
    taps_flagged: Mapped[int] = mapped_column(_BIGINT, default=0, server_default=text("0"))
    taps_refused: Mapped[int] = mapped_column(_BIGINT, default=0, server_default=text("0"))
