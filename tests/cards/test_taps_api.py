"""``POST /api/v1/taps``: a registered reader's tap, verified again and decided online."""

from __future__ import annotations

import time
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from cardio.session import KentCardSession
from cardio.verify import new_challenge
from hardware.virtual_card import InProcessConnection, VirtualKentCard
from idservice.cards import issuance
from idservice.db import db_session
from idservice.models import Tap
from tests.accounts.conftest import in_app
from tests.cards.conftest import grant
from tests.cards.test_issuance import issue_one
from tests.oauth.conftest import RP, make_rp


@pytest.fixture
def reader(app: Flask) -> RP:
    return make_rp(
        app,
        name="Bus 42 reader",
        redirect_uris=[],
        grant_types=["client_credentials"],
        scope="taps:write cards:read",
    )


def bearer(client: FlaskClient, rp: RP, scope: str = "taps:write") -> dict[str, str]:
    response = client.post(
        "/oauth/token", data={"grant_type": "client_credentials", "scope": scope}, headers=rp.basic
    )
    assert response.status_code == 200, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['access_token']}"}


def tap_body(
    card: VirtualKentCard, mode: str = "transport", now: float | None = None
) -> dict[str, Any]:
    connection = InProcessConnection(card)
    session = KentCardSession(connection)
    challenge = new_challenge(now)
    signature = session.internal_authenticate(challenge)
    return {
        "select_answer": session.info.raw.hex(),
        "challenge": challenge.hex(),
        "signature": signature.hex(),
        "mode": mode,
    }


def test_tap_is_decided_and_recorded(
    app: Flask, client: FlaskClient, reader: RP, blank_card, resident_and_actor
) -> None:
    resident_id, actor = resident_and_actor
    grant(app, resident_id, "library")
    card = blank_card()
    issued = issue_one(app, actor, resident_id, card)
    headers = bearer(client, reader)
    response = client.post("/api/v1/taps", json=tap_body(card, "library"), headers=headers)
    assert response.status_code == 200
    assert response.get_json() == {
        "decision": "allow",
        "code": "entitled",
        "reason": "library member",
        "entitlement": "library",
        "valid_until": "2099-01-01",
    }
    with in_app(app):
        issuance.report_card(actor, issued.id, "stolen")
    refused = client.post("/api/v1/taps", json=tap_body(card), headers=headers).get_json()
    assert refused["decision"] == "deny" and refused["reason"] == "card reported stolen"
    with in_app(app):
        taps = db_session.scalars(select(Tap).order_by(Tap.id)).all()
    assert [(t.card_number, t.decision, t.reader_client_id) for t in taps] == [
        (issued.card_number, "allow", reader.client_id),
        (issued.card_number, "deny", reader.client_id),
    ]


def test_a_replayed_or_altered_answer_is_denied(
    app: Flask, client: FlaskClient, reader: RP, blank_card, resident_and_actor
) -> None:
    resident_id, actor = resident_and_actor
    card = blank_card()
    issue_one(app, actor, resident_id, card)
    body = tap_body(card)
    body["challenge"] = new_challenge().hex()  # the signature was over another challenge
    response = client.post("/api/v1/taps", json=body, headers=bearer(client, reader))
    assert response.get_json()["code"] == "not_genuine"


def test_the_same_answer_is_decided_once(
    app: Flask, client: FlaskClient, reader: RP, blank_card, resident_and_actor
) -> None:
    """A recorded (SELECT answer, challenge, signature) sent again is refused, whoever
    sends it, even while the card is entitled; a fresh tap of the same card is decided."""
    resident_id, actor = resident_and_actor
    grant(app, resident_id, "bus-pass-older")
    card = blank_card()
    issued = issue_one(app, actor, resident_id, card)
    headers = bearer(client, reader)
    body = tap_body(card)
    first = client.post("/api/v1/taps", json=body, headers=headers)
    assert first.status_code == 200 and first.get_json()["decision"] == "allow"
    replayed = client.post("/api/v1/taps", json=body, headers=headers)
    assert replayed.status_code == 409
    assert replayed.get_json()["error"] == "replayed_tap"
    other_reader = make_rp(
        app, name="Bus 43", redirect_uris=[], grant_types=["client_credentials"], scope="taps:write"
    )
    again = client.post("/api/v1/taps", json=body, headers=bearer(client, other_reader))
    assert again.status_code == 409
    fresh = client.post("/api/v1/taps", json=tap_body(card), headers=headers)
    assert fresh.status_code == 200 and fresh.get_json()["decision"] == "allow"
    with in_app(app):
        taps = db_session.scalars(select(Tap).order_by(Tap.id)).all()
    assert [(t.card_number, t.challenge is not None) for t in taps] == [
        (issued.card_number, True),
        (issued.card_number, True),
    ]


@pytest.mark.parametrize("offset", [-31.0, 31.0, -3600.0, None])
def test_a_challenge_outside_the_window_is_stale(
    app: Flask,
    client: FlaskClient,
    reader: RP,
    blank_card,
    resident_and_actor,
    offset: float | None,
) -> None:
    """None: a challenge with no time in it at all (16 random bytes, the old readers)."""
    resident_id, actor = resident_and_actor
    card = blank_card()
    issue_one(app, actor, resident_id, card)
    body = tap_body(card, now=time.time() + offset if offset is not None else 0.0)
    response = client.post("/api/v1/taps", json=body, headers=bearer(client, reader))
    assert response.status_code == 422
    assert response.get_json()["error"] == "stale_challenge"
    assert "reader's clock" in response.get_json()["message"]
    with in_app(app):
        assert db_session.scalars(select(Tap)).all() == []


@pytest.mark.parametrize("offset", [-25.0, 0.0, 25.0])
def test_a_challenge_inside_the_window_is_decided(
    app: Flask, client: FlaskClient, reader: RP, blank_card, resident_and_actor, offset: float
) -> None:
    resident_id, actor = resident_and_actor
    grant(app, resident_id, "library")
    card = blank_card()
    issue_one(app, actor, resident_id, card)
    body = tap_body(card, "library", now=time.time() + offset)
    response = client.post("/api/v1/taps", json=body, headers=bearer(client, reader))
    assert response.status_code == 200
    assert response.get_json()["reason"] == "library member"


@pytest.mark.parametrize(
    ("headers", "status", "error"),
    [
        ({}, 401, "invalid_token"),
        ({"Authorization": "Bearer not-a-token"}, 401, "invalid_token"),
    ],
)
def test_without_a_valid_token(
    client: FlaskClient, headers: dict[str, str], status: int, error: str
) -> None:
    response = client.post("/api/v1/taps", json={}, headers=headers)
    assert response.status_code == status
    assert response.get_json()["error"] == error
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_token_without_the_taps_scope_is_forbidden(client: FlaskClient, reader: RP) -> None:
    response = client.post("/api/v1/taps", json={}, headers=bearer(client, reader, "cards:read"))
    assert response.status_code == 403
    assert response.get_json()["error"] == "insufficient_scope"


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"select_answer": None}, 400),
        ({"signature": "zz"}, 400),
        ({"mode": "swimming"}, 422),
        ({"challenge": "00"}, 422),
        ({"select_answer": "6f00"}, 422),
    ],
)
def test_bad_requests_have_json_errors(
    client: FlaskClient, reader: RP, blank_card, change: dict[str, Any], status: int
) -> None:
    body = {"select_answer": "6f00", "challenge": "00" * 16, "signature": "30", "mode": "library"}
    body = {k: v for k, v in {**body, **change}.items() if v is not None}
    response = client.post("/api/v1/taps", json=body, headers=bearer(client, reader))
    assert response.status_code == status
    assert set(response.get_json()) == {"error", "message"}


def test_not_json_is_a_400(client: FlaskClient, reader: RP) -> None:
    response = client.post("/api/v1/taps", data="tap", headers=bearer(client, reader))
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"
