"""Signed offline lists for readers: one row per mode and version, and the deltas served.

``offline_snapshots`` keeps, for each version built, what readers need to move forward:
the signed delta from the version before (``changes``: the change record, kept for the
last versions only) and, for the latest version only, the signed full list (``full``).
Older fulls are dropped, since a delta is computed against the latest full and a reader
too far behind gets the latest full anyway.

``offline_snapshot_deltas`` holds the signed deltas that bring each recent version to the
latest one, built with it, so ``GET /api/v1/snapshots/{mode}?since=`` only reads bytes
and the service never signs while answering. No card number and no personal data: the
lists know cards by their key fingerprints (docs/readers.md).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from idservice.models.base import Base, utcnow
from idservice.models.types import UTCDateTime

_BIGINT = BigInteger().with_variant(Integer, "sqlite")


class OfflineSnapshot(Base):
    __tablename__ = "offline_snapshots"

    mode: Mapped[str] = mapped_column(String(16), primary_key=True)
    version: Mapped[int] = mapped_column(_BIGINT, primary_key=True, autoincrement=False)
    #: The version the ``changes`` delta starts from (None: the first, or services changed).
    base_version: Mapped[int | None] = mapped_column(_BIGINT)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    key_id: Mapped[str] = mapped_column(String(16))
    state_sha256: Mapped[str] = mapped_column(String(64))
    record_count: Mapped[int] = mapped_column(Integer)
    hotlist_count: Mapped[int] = mapped_column(Integer)
    #: Cards whose records changed since ``base_version``.
    changed_count: Mapped[int] = mapped_column(Integer)
    full: Mapped[bytes | None] = mapped_column(LargeBinary)
    changes: Mapped[bytes | None] = mapped_column(LargeBinary)


class OfflineSnapshotDelta(Base):
    """A signed delta from ``base_version`` to ``version``, the latest of its mode."""

    __tablename__ = "offline_snapshot_deltas"

    mode: Mapped[str] = mapped_column(String(16), primary_key=True)
    base_version: Mapped[int] = mapped_column(_BIGINT, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(_BIGINT)
    body: Mapped[bytes] = mapped_column(LargeBinary)
