"""Fixtures shared by the whole suite.

The database comes from ``KENTCARD_TEST_DATABASE_URL``: unset means a fresh SQLite file;
a PostgreSQL URL means a fresh database created on that server for this run (one per
xdist worker) and dropped afterwards. Either way it is built by running the migrations,
never ``create_all``.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher, Type
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, make_url, text
from werkzeug.serving import make_server

from idservice import create_app, migrate
from idservice.config import Settings
from idservice.db import db_session
from idservice.models import Base
from idservice.services import passwords

pytest_plugins = ["tests.factories", "tests.browser.fixtures"]


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    base = os.environ.get("KENTCARD_TEST_DATABASE_URL")
    if not base:
        path = tmp_path_factory.mktemp("db") / "kentcard-test.db"
        url = f"sqlite:///{path}"
        migrate.upgrade(url)
        yield url
        return
    server = make_url(base)
    name = f"kentcard_test_{_worker()}_{secrets.token_hex(4)}"
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = server.set(database=name).render_as_string(hide_password=False)
    try:
        migrate.upgrade(url)
        yield url
    finally:
        db_session.remove()
        from idservice.db import session_factory

        bind = session_factory.kw.get("bind")
        if bind is not None:
            bind.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    instance = tmp_path_factory.mktemp("instance")
    return Settings.from_env(
        instance_path=instance,
        database_url=database_url,
        issuer="http://127.0.0.1:5000",
        secret_key=secrets.token_urlsafe(32),
        secure_cookies=False,
        testing=True,
        key_publish_lead=0,
        webauthn_rp_id="localhost",
        webauthn_origin="http://localhost:5000",
    )


_APPS: list[Flask] = []


@pytest.fixture(scope="session")
def app(settings: Settings) -> Flask:
    created = create_app(settings)
    _APPS.append(created)
    return created


def empty_database(app: Flask) -> None:
    """Empty every table and the ledger, and forget what the apps cached from them.

    The suite's fixture does this after each test; a property test that runs many examples
    in one test calls it before each example.
    """
    with app.app_context():
        db_session.rollback()
        engine = app.extensions["kentcard_engine"]
        with engine.begin() as conn:
            for table in reversed(Base.metadata.sorted_tables):
                conn.execute(table.delete())
            # Services append to the ledger too (cards issued and hotlisted): empty it.
            for name in ("ledger_events", "ledger_tree_heads", "entitlement_states"):
                conn.execute(text(f"DELETE FROM {name}"))
            conn.execute(text("UPDATE ledger_head SET size = 0, chain_hash = :z"), {"z": bytes(32)})
        db_session.remove()
    for each in _APPS:
        clients = each.extensions.get("kentcard_oauth_clients")
        if clients is not None:  # and so was the clients table
            clients.forget()
        keys = each.extensions.get("kentcard_oauth_keys")
        if keys is not None:  # the key table was emptied: forget cached signing keys
            keys.reset()
        limiter = each.extensions.get("kentcard_rate_limiter")
        if limiter is not None:  # per-address limits are in process: start each test afresh
            limiter.reset()


#: The same argon2id code at the least work it allows. At production cost a hash takes
#: 150 to 500 ms on a small CI machine, and the suite signs in and registers thousands of
#: times: hashing was most of its time. Tests about the cost itself (the parameters, and
#: pages answering as fast whether or not an address has an account) are marked
#: ``production_hashing`` and keep the production hasher.
CHEAP_HASHER = PasswordHasher(type=Type.ID, time_cost=1, memory_cost=1024, parallelism=1)
_CHEAP_DUMMY = CHEAP_HASHER.hash("not-a-real-password-used-for-timing-only")


@pytest.fixture(autouse=True, scope="session")
def _roomy_card_deadline() -> None:
    """Readers started by the tests (``kentcard reader ...``) give each card call 2 s, not
    150 ms: a loaded test machine must not turn a tap into ``card_silent``. The tests of
    the deadline itself set their own (tests/hardware/test_card_deadlines.py)."""
    os.environ.setdefault("KENTCARD_READER_APDU_DEADLINE_MS", "2000")


@pytest.fixture(autouse=True)
def _cheap_password_hashing(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    if request.node.get_closest_marker("production_hashing") is None:
        monkeypatch.setattr(passwords, "_hasher", CHEAP_HASHER)
        monkeypatch.setattr(passwords, "_DUMMY_HASH", _CHEAP_DUMMY)


@pytest.fixture(autouse=True)
def _clean_database(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test starts with empty tables (cheaper than a new database per test)."""
    yield
    if "app" not in request.fixturenames and "live_server" not in request.fixturenames:
        return
    empty_database(request.getfixturevalue("app"))


@pytest.fixture
def app_ctx(app: Flask) -> Iterator[Flask]:
    with app.app_context():
        yield app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


class _Deferred:
    """A WSGI callable whose app is set once the server's port is known."""

    app: Flask | None = None

    def __call__(self, environ: Any, start_response: Any) -> Any:
        assert self.app is not None
        return self.app(environ, start_response)


class LiveServer:
    """The app served over real HTTP in a thread, with its own issuer (the live URL)."""

    def __init__(self, settings: Settings) -> None:
        deferred = _Deferred()
        self._server = make_server("127.0.0.1", 0, deferred, threaded=True)
        self.port = self._server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self.settings = dataclasses.replace(
            settings, issuer=self.url, webauthn_origin=f"http://localhost:{self.port}"
        )
        self.app = deferred.app = create_app(self.settings)
        _APPS.append(self.app)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> LiveServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()


@pytest.fixture(scope="session")
def live_server(app: Flask, settings: Settings) -> Iterator[LiveServer]:
    """The app over real HTTP for browsers and third-party clients.

    A second app on the same database, whose issuer is the live address, so discovery and
    tokens agree with the URL the client used while test-client tests keep their issuer.
    """
    server = LiveServer(settings).start()
    yield server
    server.stop()


@pytest.fixture
def live_app(live_server: LiveServer) -> Flask:
    """The app behind ``live_server`` (same database, the live issuer)."""
    return live_server.app


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    """Browser and interop tests need their tools; in CI a missing tool is a failure."""
    _ = Path  # keep import for helpers using paths
