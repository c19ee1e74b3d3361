"""Database engine and sessions.

Plain SQLAlchemy 2 (no Flask-SQLAlchemy) so that ``entitlements`` and command-line jobs
share the same models without Flask. One scoped session per app context; services commit
through :func:`transactional`.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, scoped_session, sessionmaker

if TYPE_CHECKING:
    from flask import Flask

P = ParamSpec("P")
R = TypeVar("R")

session_factory = sessionmaker(expire_on_commit=False)
#: The session used by data-access functions. Bound to an engine by :func:`init_app`.
db_session: scoped_session[Session] = scoped_session(session_factory)


def make_engine(url: str) -> Engine:
    kwargs: dict[str, Any] = {"future": True}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    else:
        kwargs.update(pool_size=10, max_overflow=10)
    engine = create_engine(url, **kwargs)
    if not url.startswith("sqlite"):
        ping_after_idle(engine)
    if url.startswith("sqlite"):

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

    return engine


#: A pooled connection unused for longer than this is pinged before it is handed out.
PING_AFTER_IDLE_S = 5.0
_IDLE_SINCE = "kentcard_idle_since"


def ping_after_idle(engine: Engine, idle_s: float = PING_AFTER_IDLE_S) -> None:
    """Ping a pooled connection before use only when it sat idle for ``idle_s`` or more.

    ``pool_pre_ping`` pings on every checkout: a round trip to the database on every
    request, for connections used a millisecond ago. A connection the server dropped
    (a restart, a failover, an idle timeout) has always been idle a while, so pinging
    those is enough; a failed ping makes the pool throw the connection away and hand out
    a fresh one, as ``pool_pre_ping`` does.
    """

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop(_IDLE_SINCE, None)
        if since is None or time.monotonic() - since < idle_s:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise DisconnectionError(f"connection failed its ping: {exc}") from exc
        if not alive:
            raise DisconnectionError("connection failed its ping")


def init_app(app: Flask, url: str) -> Engine:
    engine = make_engine(url)
    session_factory.configure(bind=engine)
    app.extensions["kentcard_engine"] = engine

    @app.teardown_appcontext
    def _remove_session(exc: BaseException | None) -> None:
        if not db_session.registry.has():
            return  # this request never used the database (a cached client, say)
        if exc is not None:
            db_session.rollback()
        db_session.remove()

    return engine


def transactional(func: Callable[P, R]) -> Callable[P, R]:
    """Commit when the wrapped service function returns, roll back if it raises.

    Either the whole change is written or none of it: never a half-written record.
    """

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            result = func(*args, **kwargs)
            db_session.commit()
            return result
        except BaseException:
            db_session.rollback()
            raise

    return wrapper


@contextmanager
def transaction() -> Iterator[Session]:
    try:
        yield db_session()
        db_session.commit()
    except BaseException:
        db_session.rollback()
        raise
