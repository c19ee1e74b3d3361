"""The lean WSGI path for partner checks (idservice/partner_api/lean.py) answers exactly as
the flask-smorest view does, writes the same rows, and leaves every refusal to the view.

Each case is sent through the app as deployed (lean path in front) and straight to the
view (lean path taken out); the two answers must agree: status, headers and body.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import date
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from idservice.db import LeanConnection, LeanStatement, db_session
from idservice.models import AuditRecord, PartnerQuery
from idservice.models.cards import CARD_HOTLISTED
from idservice.models.oauth import OAuthClient
from idservice.oauth.claims import pairwise_sub
from idservice.oauth.dao import dao_remember_subject
from idservice.partner_api.lean import LeanCheckEndpoint
from tests import lean_paths
from tests.accounts.conftest import in_app
from tests.partner_api.conftest import (
    BUS_PASS,
    LIBRARY,
    UNKNOWN_CARD,
    Partner,
    active_card,
    check_card,
    check_subject,
    grant,
    make_partner,
    new_resident,
    service_token,
)


@pytest.fixture
def partner(app: Flask) -> Partner:
    return make_partner(app, "Arriva Kent", f"{LIBRARY} {BUS_PASS}", "arriva.example")


def flask_only(app: Flask) -> AbstractContextManager[None]:
    return lean_paths.without(app, LeanCheckEndpoint)


def flask_must_not_see(app: Flask) -> AbstractContextManager[list[str]]:
    return lean_paths.flask_must_not_see(app, LeanCheckEndpoint)


def comparable(response: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    return response.status_code, list(response.headers.items()), response.get_data()


def subject_of(app: Flask, sector: str, resident: str) -> str:
    """The partner's pairwise subject, as released when the resident signed in to it."""
    with in_app(app):
        subject = pairwise_sub(app.config["KENTCARD"], sector, resident)
        dao_remember_subject(sector, subject, resident)
        db_session.commit()
    return subject


def rows(app: Flask) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The query log and the partner-check audit records, oldest first."""
    with in_app(app):
        queries = db_session.scalars(select(PartnerQuery).order_by(PartnerQuery.id)).all()
        audits = db_session.scalars(
            select(AuditRecord)
            .where(AuditRecord.action == "partner.entitlement_checked")
            .order_by(AuditRecord.id)
        ).all()
        return (
            [(q.client_id, q.resident_id, q.service, q.looked_up_by, q.entitled, q.result)
             for q in queries],
            [(a.resident_id, a.actor_id, a.channel, a.details) for a in audits],
        )  # fmt: skip


def agree(app: Flask, send: Callable[[], Any]) -> Any:
    """Send through both paths: the lean path answers alone, and the answers and the rows
    each writes agree."""
    queries_0, audits_0 = rows(app)
    with flask_must_not_see(app) as seen:
        through_lean = send()
    assert seen == []
    queries_1, audits_1 = rows(app)
    with flask_only(app):
        through_view = send()
    queries_2, audits_2 = rows(app)
    assert comparable(through_lean) == comparable(through_view)
    assert queries_1[len(queries_0) :] == queries_2[len(queries_1) :]
    assert len(queries_1) == len(queries_0) + 1
    assert audits_1[len(audits_0) :] == audits_2[len(audits_1) :]
    return through_lean


@pytest.mark.parametrize(
    "case", ["entitled", "not entitled", "unknown card", "bad check digit", "card hotlisted"]
)
def test_checks_by_card_number_agree(
    app: Flask, client: FlaskClient, partner: Partner, case: str
) -> None:
    resident = new_resident(app)
    if case != "not entitled":
        grant(app, resident, "bus-pass-older", valid_until=date(2099, 1, 1))
    number = active_card(
        app, resident, **({"status": CARD_HOTLISTED} if case == "card hotlisted" else {})
    )
    if case == "unknown card":
        number = UNKNOWN_CARD
    elif case == "bad check digit":
        number = number[:-1] + str((int(number[-1]) + 1) % 10)
    headers = service_token(client, partner.rp, BUS_PASS)
    answer = agree(app, lambda: check_card(client, headers, "bus-pass-older", number))
    expected = {
        "entitled": "entitled",
        "not entitled": "not_entitled",
        "unknown card": "unknown",
        "bad check digit": "unknown",
        "card hotlisted": "card_not_valid",
    }[case]
    assert answer.get_json()["reason"] == expected


def test_checks_by_subject_agree(app: Flask, client: FlaskClient, partner: Partner) -> None:
    resident = new_resident(app)
    grant(app, resident, "library", valid_until=date(2099, 1, 1))
    subject = subject_of(app, partner.sector, resident)
    headers = service_token(client, partner.rp, LIBRARY)
    answer = agree(app, lambda: check_subject(client, headers, "library", subject))
    assert answer.get_json() == {
        "service": "library",
        "entitled": True,
        "valid_until": "2099-01-01",
        "reason": "entitled",
    }
    other = subject_of(app, "other.example", resident)  # another partner's subject
    unknown = agree(app, lambda: check_subject(client, headers, "library", other))
    assert unknown.get_json()["reason"] == "unknown"


def _withdraw(app: Flask, partner: Partner) -> None:
    with in_app(app):
        db_session.execute(
            update(OAuthClient)
            .where(OAuthClient.client_id == partner.rp.client_id)
            .values(active=False)
        )
        db_session.commit()


@pytest.mark.parametrize(
    "case",
    [
        "revoked token",
        "withdrawn partner",
        "other scope",
        "unknown service",
        "extra field",
        "not json",
        "rate limited",
        "revoked token, rate limited",
    ],
)
def test_every_refusal_is_the_views_own(
    app: Flask, client: FlaskClient, partner: Partner, case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    resident = new_resident(app)
    number = active_card(app, resident)
    headers = service_token(client, partner.rp, LIBRARY)
    path, body = "/api/v1/checks/library/by-card-number", {"card_number": number}
    if case.startswith("revoked token"):
        token = headers["Authorization"].split()[1]
        client.post("/oauth/revoke", data={"token": token}, headers=partner.rp.basic)
    elif case == "withdrawn partner":
        _withdraw(app, partner)
    elif case == "other scope":
        path = "/api/v1/checks/bus-pass-older/by-card-number"
    elif case == "unknown service":
        path = "/api/v1/checks/swimming/by-card-number"
    elif case == "extra field":
        body = {"card_number": number, "name": "Ann"}
    if case.endswith("rate limited"):
        monkeypatch.setitem(app.config["KENTCARD"].extra, "rate_limits", {"partner-api": 0})

    def send() -> Any:
        if case == "not json":
            broken = {"data": "{", "content_type": "application/json"}
            return client.post(path, headers=headers, **broken)
        return client.post(path, json=body, headers=headers)

    with flask_must_not_see(app) as seen:
        through_lean = send()
    # Over the limit with a good token is refused on the lean path, with the view's error.
    assert seen == ([] if case == "rate limited" else [path])
    with flask_only(app):
        through_view = send()
    assert comparable(through_lean) == comparable(through_view)
    assert through_lean.status_code in (401, 403, 404, 422, 400, 429)
    assert through_lean.headers["Cache-Control"] == "no-store"
    assert {"error", "message"} <= set(through_lean.get_json())


def test_consented_extras_are_left_to_the_view(
    app: Flask, client: FlaskClient, leisure_partner: Partner
) -> None:
    from tests.partner_api.test_checks import _signed_in_subject

    resident = new_resident(app)
    grant(app, resident, "library", valid_until=date(2099, 1, 1))
    number = active_card(app, resident)
    _signed_in_subject(app, client, resident, leisure_partner)
    headers = service_token(client, leisure_partner.rp, LIBRARY)
    with flask_must_not_see(app) as seen:
        answer = check_card(client, headers, "library", number)
    assert seen == ["/api/v1/checks/library/by-card-number"]
    assert "subject" in answer.get_json()
    with in_app(app):
        logged = db_session.scalars(select(PartnerQuery)).all()
    assert len(logged) == 1  # recorded once, by the view


@pytest.fixture
def statements(app: Flask, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Statements sent on a lean path's connection (the view's go through the ORM)."""
    seen: list[str] = []

    def spy(method: Callable[..., Any]) -> Callable[..., Any]:
        def counted(self: LeanConnection, statement: LeanStatement, params: Any) -> Any:
            sql = str(statement.statement.compile(dialect=self.database.dialect))
            seen.append(sql.split(None, 1)[0].upper())
            return method(self, statement, params)

        return counted

    monkeypatch.setattr(LeanConnection, "rows", spy(LeanConnection.rows))
    monkeypatch.setattr(LeanConnection, "run", spy(LeanConnection.run))
    return seen


def test_a_check_is_one_query_and_one_write(
    app: Flask, client: FlaskClient, partner: Partner, statements: list[str]
) -> None:
    resident = new_resident(app)
    number = active_card(app, resident)
    headers = service_token(client, partner.rp, LIBRARY)
    check_card(client, headers, "library", number)  # warm
    statements.clear()
    assert check_card(client, headers, "library", number).status_code == 200
    if app.extensions["kentcard_engine"].dialect.name == "postgresql":
        assert statements == ["SELECT", "WITH"]  # the query log and audit rows in one
    else:
        assert statements == ["SELECT", "INSERT", "INSERT"]  # in one transaction


@pytest.mark.parametrize("limit, status", [(0, 429), (100, 200)])
def test_a_check_counts_once_against_the_rate_limit(
    app: Flask,
    client: FlaskClient,
    partner: Partner,
    monkeypatch: pytest.MonkeyPatch,
    limit: int,
    status: int,
) -> None:
    # A refused check was counted by the lean path and again by the view it was handed
    # to, so a partner over its limit used its next window up twice as fast.
    from idservice.partner_api import access

    resident = new_resident(app)
    number = active_card(app, resident)
    headers = service_token(client, partner.rp, LIBRARY)
    monkeypatch.setitem(app.config["KENTCARD"].extra, "rate_limits", {"partner-api": limit})
    counted: list[str] = []
    real = access.within_rate_limit

    def counting(client_id: str) -> bool:
        counted.append(client_id)
        return real(client_id)

    monkeypatch.setattr(access, "within_rate_limit", counting)
    answer = client.post(
        "/api/v1/checks/library/by-card-number", json={"card_number": number}, headers=headers
    )
    assert answer.status_code == status
    assert counted == [partner.rp.client_id]


@pytest.mark.parametrize("limit, status", [(0, 429), (100, 200)])
def test_a_check_the_view_finishes_counts_once_against_the_rate_limit(
    app: Flask,
    client: FlaskClient,
    leisure_partner: Partner,
    monkeypatch: pytest.MonkeyPatch,
    limit: int,
    status: int,
) -> None:
    """The lean path hands a check with consented extras to the view after its look-up:
    it must not have counted the check already (the view counts it)."""
    from idservice.partner_api import access
    from tests.partner_api.test_checks import _signed_in_subject

    resident = new_resident(app)
    grant(app, resident, "library", valid_until=date(2099, 1, 1))
    number = active_card(app, resident)
    _signed_in_subject(app, client, resident, leisure_partner)
    headers = service_token(client, leisure_partner.rp, LIBRARY)
    monkeypatch.setitem(app.config["KENTCARD"].extra, "rate_limits", {"partner-api": limit})
    counted: list[str] = []
    real = access.within_rate_limit

    def counting(client_id: str) -> bool:
        counted.append(client_id)
        return real(client_id)

    monkeypatch.setattr(access, "within_rate_limit", counting)
    with flask_must_not_see(app) as seen:
        answer = check_card(client, headers, "library", number)
    assert seen == ["/api/v1/checks/library/by-card-number"]
    assert answer.status_code == status
    assert counted == [leisure_partner.rp.client_id]


def test_both_paths_answer_through_the_one_use_case(
    app: Flask, client: FlaskClient, partner: Partner, monkeypatch: pytest.MonkeyPatch
) -> None:
    from idservice.partner_api import checks

    stores: list[str] = []
    real = checks.answer_check

    def spy(store: Any, *args: Any, **kwargs: Any) -> Any:
        stores.append(type(store).__name__)
        return real(store, *args, **kwargs)

    monkeypatch.setattr(checks, "answer_check", spy)
    resident = new_resident(app)
    number = active_card(app, resident)
    headers = service_token(client, partner.rp, LIBRARY)
    agree(app, lambda: check_card(client, headers, "library", number))
    assert stores == ["LeanCheckStore", "OrmCheckStore"]
