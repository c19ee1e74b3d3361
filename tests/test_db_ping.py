"""Pooled PostgreSQL connections are pinged only after sitting idle (idservice.db)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from idservice.db import ping_after_idle


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    if database_url.startswith("sqlite"):
        pytest.skip("a file database has no server to drop its connections")
    made = create_engine(database_url, pool_size=1, max_overflow=0)
    yield made
    made.dispose()


def _backend_pid(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _terminate(engine: Engine, pid: int) -> None:
    # From outside the pool: the pooled connection does not know it was dropped.
    other = create_engine(engine.url, poolclass=None)
    with other.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    other.dispose()


def test_a_connection_dropped_while_idle_is_replaced_before_use(engine: Engine) -> None:
    ping_after_idle(engine, idle_s=0.0)
    pid = _backend_pid(engine)
    _terminate(engine, pid)
    # The ping fails, the pool throws the connection away and connects again.
    assert _backend_pid(engine) != pid


def test_a_connection_used_a_moment_ago_is_not_pinged(engine: Engine) -> None:
    ping_after_idle(engine, idle_s=3600.0)
    pid = _backend_pid(engine)
    _terminate(engine, pid)
    # No ping within the idle time: the dead connection is handed out and the first
    # statement on it fails (the pool then drops it, as without any ping).
    with pytest.raises(OperationalError):
        _backend_pid(engine)
    assert _backend_pid(engine) != pid
