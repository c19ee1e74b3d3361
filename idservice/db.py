"""Database engine and sessions.

Plain SQLAlchemy 2 (no Flask-SQLAlchemy) so that ``entitlements`` and command-line jobs
share the same models without Flask. One scoped session per app context; services commit
through :func:`transactional`.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from sqlalchemy import create_engine, event, make_url
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError, IntegrityError
from sqlalchemy.orm import Session, scoped_session, sessionmaker
from sqlalchemy.pool import NullPool

if TYPE_CHECKING:
    from flask import Flask

P = ParamSpec("P")
R = TypeVar("R")

session_factory = sessionmaker(expire_on_commit=False)
#: The session used by data-access functions. Bound to an engine by :func:`init_app`.
db_session: scoped_session[Session] = scoped_session(session_factory)


def create_private_sqlite_file(url: str) -> None:
    """Create an embedded SQLite database file with mode 0600 before SQLite opens it.

    SQLite would create it with the process's umask (usually readable by everyone); an
    empty file is a valid empty database, and SQLite gives its journal and WAL files the
    database file's mode. Other databases, in-memory ones and existing files are left alone.
    """
    parsed = make_url(url)
    name = parsed.database
    if not parsed.drivername.startswith("sqlite") or not name or name == ":memory:":
        return
    if name.startswith("file:") or parsed.query.get("mode") == "memory":
        return
    path = Path(name)
    if path.exists():
        return
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def make_engine(url: str) -> Engine:
    create_private_sqlite_file(url)
    # SQL parameters are residents' details: never in logs or exception messages.
    kwargs: dict[str, Any] = {"future": True, "hide_parameters": True}
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


# -- the lean API paths -------------------------------------------------------------------

LEAN_DATABASE = "kentcard_lean_database"


class LeanDatabase:
    """What the lean API paths (online taps, partner checks) connect through.

    On SQLite, the app's engine. On PostgreSQL, one connection per serving thread, in
    autocommit (each statement stands alone, without BEGIN and COMMIT round trips), kept
    for the thread's life and never shared with the ORM's transactions: checking a
    connection out of a pool and back in costs more CPU than these requests' queries. A
    connection idle for :data:`PING_AFTER_IDLE_S` is pinged first, as the app's pool does
    (:func:`ping_after_idle`); one that fails is replaced.
    """

    def __init__(self, engine: Engine, idle_s: float = PING_AFTER_IDLE_S) -> None:
        self.postgresql = engine.dialect.name == "postgresql"
        self.idle_s = idle_s
        if self.postgresql:
            # Connections come from an engine of their own, detached from its pool: made
            # with SQLAlchemy's settings for the driver (its adapters), closed by us.
            engine = create_engine(
                engine.url, poolclass=NullPool, isolation_level="AUTOCOMMIT", hide_parameters=True
            )
        self.engine = engine
        self.dialect = engine.dialect
        self._local = threading.local()

    def driver_connection(self) -> Any:
        """This thread's psycopg connection (PostgreSQL only)."""
        local = self._local
        found = getattr(local, "connection", None)
        now = time.monotonic()
        if found is not None and (
            found.closed or (now - local.used >= self.idle_s and not self._alive(found))
        ):
            self.discard()
            found = None
        if found is None:
            pooled = self.engine.raw_connection()
            found = local.connection = pooled.driver_connection
            pooled.detach()  # ours now: closed by discard(), never returned to a pool
        local.used = now
        return found

    def discard(self) -> None:
        """Close this thread's connection (it broke); the next use makes a new one."""
        found = getattr(self._local, "connection", None)
        self._local.connection = None
        if found is not None:
            with contextlib.suppress(Exception):
                found.close()

    def _alive(self, connection: Any) -> bool:
        try:
            return bool(self.dialect.do_ping(connection))
        except Exception:
            return False


def lean_database(app: Flask) -> LeanDatabase:
    """The app's :class:`LeanDatabase`, made on first use."""
    found: LeanDatabase | None = app.extensions.get(LEAN_DATABASE)
    if found is None:
        found = app.extensions[LEAN_DATABASE] = LeanDatabase(app.extensions["kentcard_engine"])
    return found


class LeanStatement:
    """A Core statement for the lean paths, written with the models' tables.

    On PostgreSQL it is compiled once and its SQL sent straight to psycopg as a prepared
    statement: SQLAlchemy's work per execution (the compiled cache, the execution context,
    result processing) costs more CPU there than the round trip. So only for statements
    whose parameters the driver takes as they are (aware UTC datetimes, strings, bytes;
    JSON given as text) and whose columns need no conversion (psycopg returns dates,
    booleans and bytes). Elsewhere it runs through SQLAlchemy as usual.
    """

    def __init__(self, statement: Any) -> None:
        self.statement = statement
        self._compiled: tuple[str, dict[str, Any]] | None = None

    def driver_sql(self, dialect: Any) -> tuple[str, dict[str, Any]]:
        if self._compiled is None:
            compiled = self.statement.compile(dialect=dialect)
            if compiled.post_compile_params:
                raise ValueError("a lean statement cannot use expanding IN parameters")
            # The values written into the statement (literals); the caller passes the rest.
            defaults = {
                name: bind.value for name, bind in compiled.binds.items() if not bind.required
            }
            self._compiled = (str(compiled), defaults)
        return self._compiled


class LeanConnection:
    """The database for one request of a lean path, from :func:`lean_database`.

    ``rows`` and ``run`` take :class:`LeanStatement` objects; rows have the statement's
    labels as attributes. A unique violation raises SQLAlchemy's ``IntegrityError`` on
    either kind of database. ``commit`` ends SQLite's transaction (PostgreSQL's
    connections are in autocommit); leaving without it rolls back.
    """

    def __init__(self, database: LeanDatabase) -> None:
        self.database = database
        self.driver = database.postgresql

    def __enter__(self) -> LeanConnection:
        if self.driver:
            self._dbapi: Any = self.database.driver_connection()
        else:
            self._connection = self.database.engine.connect()
        return self

    def __exit__(self, kind: Any, exc: BaseException | None, _tb: Any) -> None:
        if not self.driver:
            self._connection.close()  # rolls back what was not committed
            return
        dbapi = self.database.dialect.loaded_dbapi
        if exc is not None and isinstance(exc, dbapi.OperationalError):
            self.database.discard()  # a broken connection is never used again

    def rows(self, statement: LeanStatement, params: dict[str, Any]) -> list[Any]:
        if not self.driver:
            return list(self._connection.execute(statement.statement, params).all())
        from psycopg.rows import namedtuple_row

        sql, defaults = statement.driver_sql(self.database.dialect)
        with self._dbapi.cursor(row_factory=namedtuple_row) as cursor:
            cursor.execute(sql, {**defaults, **params}, prepare=True)
            return list(cursor.fetchall())

    def run(self, statement: LeanStatement, params: dict[str, Any]) -> None:
        if not self.driver:
            self._connection.execute(statement.statement, params)
            return
        sql, defaults = statement.driver_sql(self.database.dialect)
        dbapi = self.database.dialect.loaded_dbapi
        try:
            with self._dbapi.cursor() as cursor:
                cursor.execute(sql, {**defaults, **params}, prepare=True)
        except dbapi.IntegrityError as exc:
            raise IntegrityError(sql, params, exc, hide_parameters=True) from exc

    def commit(self) -> None:
        if not self.driver and self._connection.in_transaction():
            self._connection.commit()
