"""The lean WSGI tap path (idservice/cards/lean.py) answers exactly as the Flask view does.

Each case is sent through the app as deployed (lean path in front) and straight to the
Flask view (lean path taken out), with a fresh tap of the same card each time (an answer
can only be decided once), and the two answers must agree: status, headers and body.
Other tests check which path answered, that it takes two statements, and that nothing
the lean path hands on reaches Flask changed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select, update

from hardware.virtual_card import VirtualKentCard
from idservice.cards import issuance
from idservice.cards.lean import LeanTapEndpoint
from idservice.db import LeanConnection, LeanStatement, db_session
from idservice.models import Tap
from idservice.models.oauth import OAuthClient
from tests import lean_paths
from tests.accounts.conftest import in_app
from tests.cards.conftest import grant
from tests.cards.test_issuance import issue_one
from tests.cards.test_taps_api import bearer, tap_body
from tests.oauth.conftest import RP, make_rp


@pytest.fixture
def reader(app: Flask) -> RP:
    return make_rp(
        app,
        name="Library gate 7",
        redirect_uris=[],
        grant_types=["client_credentials"],
        scope="taps:write cards:read",
    )


def flask_only(app: Flask) -> AbstractContextManager[None]:
    return lean_paths.without(app, LeanTapEndpoint)


def flask_must_not_see(app: Flask) -> AbstractContextManager[list[str]]:
    return lean_paths.flask_must_not_see(app, LeanTapEndpoint)


def comparable(response: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    return response.status_code, list(response.headers.items()), response.get_data()


@pytest.fixture
def issued(app: Flask, blank_card: Callable[[], VirtualKentCard], resident_and_actor: Any) -> Any:
    resident_id, actor = resident_and_actor
    grant(app, resident_id, "library")
    card = blank_card()
    return card, issue_one(app, actor, resident_id, card), actor


def both(client: FlaskClient, app: Flask, send: Callable[[], Any]) -> tuple[Any, Any]:
    lean = send()
    with flask_only(app):
        view = send()
    return lean, view


def test_decisions_agree_and_never_reach_flask(
    app: Flask, client: FlaskClient, reader: RP, issued: Any
) -> None:
    card, row, actor = issued
    headers = bearer(client, reader)
    for mode in ("library", "transport"):
        with flask_must_not_see(app) as seen:
            lean = client.post("/api/v1/taps", json=tap_body(card, mode), headers=headers)
        assert seen == []
        with flask_only(app):
            view = client.post("/api/v1/taps", json=tap_body(card, mode), headers=headers)
        assert comparable(lean) == comparable(view)
    assert lean.get_json()["code"] == "not_entitled"
    with in_app(app):
        issuance.report_card(actor, row.id, "lost")
    lean, view = both(
        client, app, lambda: client.post("/api/v1/taps", json=tap_body(card), headers=headers)
    )
    assert comparable(lean) == comparable(view)
    assert lean.get_json()["reason"] == "card reported lost"


def test_a_card_that_is_not_genuine_is_refused_alike(
    app: Flask, client: FlaskClient, reader: RP, issued: Any
) -> None:
    card, row, _actor = issued
    headers = bearer(client, reader)

    def altered() -> Any:
        body = tap_body(card, "library")
        body["signature"] = body["signature"][:-4] + "0000"
        return client.post("/api/v1/taps", json=body, headers=headers)

    with flask_must_not_see(app) as seen:
        lean = altered()
    assert seen == []
    with flask_only(app):
        view = altered()
    assert comparable(lean) == comparable(view)
    assert lean.get_json()["code"] == "not_genuine"
    with in_app(app):
        taps = db_session.scalars(select(Tap).order_by(Tap.id)).all()
    assert [(t.card_number, t.code, t.challenge) for t in taps] == [
        (row.card_number, "not_genuine", None),
        (row.card_number, "not_genuine", None),
    ]


def _revoke(client: FlaskClient, reader: RP, headers: dict[str, str]) -> None:
    token = headers["Authorization"].split()[1]
    assert (
        client.post("/oauth/revoke", data={"token": token}, headers=reader.basic).status_code == 200
    )


def _withdraw(app: Flask, reader: RP) -> None:
    with in_app(app):
        db_session.execute(
            update(OAuthClient)
            .where(OAuthClient.client_id == reader.client_id)
            .values(active=False)
        )
        db_session.commit()


#: Refusals for what was sent, answered on the lean path once the token is found good.
LEAN_REFUSALS = {"stale", "replayed", "bad mode", "bad hex", "short challenge", "no object"}


@pytest.mark.parametrize(
    "case",
    [
        "revoked token",
        "withdrawn reader",
        "no scope",
        "stale",
        "replayed",
        "not json",
        "bad mode",
        "bad hex",
        "short challenge",
        "no object",
        "revoked token, bad mode",
    ],
)
def test_every_refusal_is_the_views_own(
    app: Flask, client: FlaskClient, reader: RP, issued: Any, case: str
) -> None:
    card = issued[0]
    headers = bearer(client, reader)
    body = tap_body(card, "library")
    if case.startswith("revoked token"):
        _revoke(client, reader, headers)
    elif case == "withdrawn reader":
        _withdraw(app, reader)
    elif case == "no scope":
        headers = bearer(client, reader, "cards:read")
    elif case == "stale":
        body = tap_body(card, "library", now=0.0)
    elif case == "replayed":
        assert client.post("/api/v1/taps", json=body, headers=headers).status_code == 200
    elif case == "bad hex":
        body["signature"] = "zz"
    elif case == "short challenge":
        body["challenge"] = body["challenge"][:-2]
    if case.endswith("bad mode"):
        body["mode"] = "swimming"

    def send() -> Any:
        if case == "not json":
            return client.post(
                "/api/v1/taps", data="{", headers=headers, content_type="application/json"
            )
        if case == "no object":
            return client.post("/api/v1/taps", json=[body], headers=headers)
        return client.post("/api/v1/taps", json=body, headers=headers)

    with flask_must_not_see(app) as seen:
        lean = send()
    assert seen == ([] if case in LEAN_REFUSALS else ["/api/v1/taps"])
    with flask_only(app):
        view = send()
    assert comparable(lean) == comparable(view)
    assert lean.status_code in (400, 401, 403, 409, 422)
    assert lean.headers["Cache-Control"] == "no-store"
    assert set(lean.get_json()) == {"error", "message"}


def test_the_body_reaches_flask_unchanged(app: Flask, client: FlaskClient, reader: RP) -> None:
    """A body the lean path read and handed on is the one the view parses."""
    headers = bearer(client, reader)
    body = {"select_answer": "6f00", "challenge": "00" * 16, "signature": "00", "mode": "library"}
    response = client.post("/api/v1/taps", json=body, headers=headers)
    assert response.status_code == 422
    assert response.get_json()["message"].startswith("select_answer:")


@pytest.fixture
def statements(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every statement sent: through SQLAlchemy on the app's engine, or on a lean path's
    connection (which sends its SQL straight to the driver on PostgreSQL)."""
    engine = app.extensions["kentcard_engine"]
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement.split(None, 1)[0].upper())

    def spy(method: Callable[..., Any]) -> Callable[..., Any]:
        def counted(self: LeanConnection, statement: LeanStatement, params: Any) -> Any:
            sql = str(statement.statement.compile(dialect=self.database.dialect))
            seen.append(sql.split(None, 1)[0].upper())
            with event_listening_off(self):
                return method(self, statement, params)

        return counted

    import contextlib

    @contextlib.contextmanager
    def event_listening_off(connection: LeanConnection) -> Iterator[None]:
        # On SQLite the lean connection runs through the app's engine: count it once.
        if connection.driver:
            yield
            return
        event.remove(engine, "before_cursor_execute", count)
        try:
            yield
        finally:
            event.listen(engine, "before_cursor_execute", count)

    monkeypatch.setattr(LeanConnection, "rows", spy(LeanConnection.rows))
    monkeypatch.setattr(LeanConnection, "run", spy(LeanConnection.run))
    event.listen(engine, "before_cursor_execute", count)
    yield seen
    event.remove(engine, "before_cursor_execute", count)


def test_a_tap_takes_one_query_and_one_insert(
    app: Flask, client: FlaskClient, reader: RP, issued: Any, statements: list[str]
) -> None:
    card = issued[0]
    headers = bearer(client, reader)
    client.post("/api/v1/taps", json=tap_body(card, "library"), headers=headers)  # warm
    statements.clear()
    response = client.post("/api/v1/taps", json=tap_body(card, "library"), headers=headers)
    assert response.get_json()["code"] == "entitled"
    assert statements == ["SELECT", "INSERT"]


def test_an_unexpected_failure_is_answered_by_the_view_without_a_trace(
    app: Flask, client: FlaskClient, reader: RP, issued: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from idservice.cards import dao

    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("database went away")

    monkeypatch.setattr(dao, "dao_tap_lookup", broken)
    monkeypatch.setattr(dao, "dao_card_with_states", broken)
    card, headers = issued[0], bearer(client, reader)
    with flask_must_not_see(app) as seen:
        response = client.post("/api/v1/taps", json=tap_body(card, "library"), headers=headers)
    assert seen == ["/api/v1/taps"]
    assert response.status_code == 500
    assert "database" not in response.get_data(as_text=True)
    with in_app(app):
        assert db_session.scalars(select(Tap)).all() == []


def test_both_paths_decide_through_the_one_use_case(
    app: Flask, client: FlaskClient, reader: RP, issued: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from idservice.cards import taps

    stores: list[str] = []
    real = taps.decide_tap

    def spy(store: Any, *args: Any, **kwargs: Any) -> Any:
        stores.append(type(store).__name__)
        return real(store, *args, **kwargs)

    monkeypatch.setattr(taps, "decide_tap", spy)
    card = issued[0]
    headers = bearer(client, reader)
    with flask_must_not_see(app) as seen:
        through_lean = client.post("/api/v1/taps", json=tap_body(card, "library"), headers=headers)
    assert seen == []
    with flask_only(app):
        through_view = client.post("/api/v1/taps", json=tap_body(card, "library"), headers=headers)
    assert through_lean.get_json() == through_view.get_json()
    assert stores == ["LeanTapStore", "OrmTapStore"]
