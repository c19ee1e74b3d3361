"""Database engine and sessions.

Plain SQLAlchemy 2 (no Flask-SQLAlchemy) so that ``entitlements`` and command-line jobs
share the same models without Flask. One scoped session per app context; services commit
through :func:`transactional`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
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
        kwargs.update(pool_pre_ping=True, pool_size=10, max_overflow=10)
    engine = create_engine(url, **kwargs)
    if url.startswith("sqlite"):

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

    return engine


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
