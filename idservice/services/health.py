"""The health check's one question to the database (``GET /healthz``)."""

from __future__ import annotations

from sqlalchemy import text

from idservice.db import db_session


def check_database() -> None:
    """Raise unless the database answers a trivial query."""
    db_session.execute(text("SELECT 1"))
