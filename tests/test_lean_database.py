"""The lean paths' PostgreSQL connections: one per thread, kept, pinged after sitting
idle, replaced when broken (idservice.db.LeanDatabase)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import Engine

from idservice.db import LeanConnection, LeanDatabase, LeanStatement

BACKEND_PID = LeanStatement(select(text("pg_backend_pid() AS pid")))


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    if database_url.startswith("sqlite"):
        pytest.skip("on SQLite the lean paths use the app's engine as it is")
    made = create_engine(database_url)
    yield made
    made.dispose()


def _pid(database: LeanDatabase) -> int:
    with LeanConnection(database) as connection:
        (row,) = connection.rows(BACKEND_PID, {})
        return int(row.pid)


def _terminate(engine: Engine, pid: int) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        conn.commit()


def test_a_thread_keeps_its_connection_and_threads_do_not_share(engine: Engine) -> None:
    database = LeanDatabase(engine)
    first = _pid(database)
    assert _pid(database) == first
    seen: list[int] = []
    other = threading.Thread(target=lambda: seen.append(_pid(database)))
    other.start()
    other.join()
    assert seen and seen[0] != first
    assert database.driver_connection().autocommit  # each statement stands alone


def test_a_connection_dropped_while_idle_is_replaced_before_use(engine: Engine) -> None:
    database = LeanDatabase(engine, idle_s=0.0)
    pid = _pid(database)
    _terminate(engine, pid)
    # The ping fails, the connection is thrown away and a new one made: no error.
    assert _pid(database) != pid


def test_a_connection_that_breaks_in_use_is_not_used_again(engine: Engine) -> None:
    database = LeanDatabase(engine, idle_s=3600.0)
    pid = _pid(database)
    broken = database.driver_connection()
    _terminate(engine, pid)
    # Used a moment ago, so not pinged: the statement fails (the lean path then hands
    # the request to its view) and the connection is closed and forgotten.
    with pytest.raises(psycopg.OperationalError):
        _pid(database)
    assert broken.closed
    assert _pid(database) != pid


def test_other_failures_keep_the_connection(engine: Engine) -> None:
    database = LeanDatabase(engine)
    pid = _pid(database)
    with pytest.raises(ZeroDivisionError), LeanConnection(database):
        raise ZeroDivisionError
    assert _pid(database) == pid
