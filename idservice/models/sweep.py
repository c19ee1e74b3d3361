"""The daily sweep's own record: which days it has run for, and how each run ended.

One row per day swept (``swept_on``, the ``--on`` date). A run marks its day ``running``
when it starts and ``done`` when everything it found has been committed; a run that was
killed leaves ``running``, and the next run covers the same ground again (every action is
idempotent). The last ``done`` day before a run is where that run's look-back starts, so
days when the sweep did not run are caught up (docs/entitlements-sweep.md).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Date, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from idservice.models.base import Base, utcnow
from idservice.models.types import UTCDateTime

SWEEP_RUNNING = "running"
SWEEP_DONE = "done"


class SweepRun(Base):
    __tablename__ = "sweep_runs"
    __table_args__ = (CheckConstraint("status IN ('running', 'done')", name="status"),)

    swept_on: Mapped[date] = mapped_column(Date, primary_key=True)
    status: Mapped[str] = mapped_column(String(8), default=SWEEP_RUNNING)
    #: How many times a sweep started for this day (reruns after a crash, or by hand).
    runs: Mapped[int] = mapped_column(Integer, default=1)
    #: The day after the last completed sweep before this one: what it looked back to.
    looked_back_to: Mapped[date] = mapped_column(Date)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The last run's counts per action and service (no personal data).
    report: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
