"""Partners, residents with cards and entitlements, and tokens for the partner API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from idservice.cards import dao as cards_dao
from idservice.db import db_session
from idservice.models.cards import CARD_ACTIVE
from idservice.models.residents import Resident
from tests.accounts.conftest import in_app
from tests.cards.conftest import grant
from tests.factories import create_resident, sign_in_client
from tests.oauth.conftest import RP, _fresh_keys, exchange, get_code, make_rp, pkce_pair

__all__ = ["_fresh_keys", "grant"]

LIBRARY = "entitlements:library:check"
BUS_PASS = "entitlements:bus-pass-older:check"
#: A well-formed card number (right check digit) that is on no card.
UNKNOWN_CARD = "9826019999999991"


@dataclass
class Partner:
    rp: RP
    sector: str


def make_partner(app: Flask, name: str, scope: str, sector: str, **extra: Any) -> Partner:
    values: dict[str, Any] = {
        "name": name,
        "redirect_uris": [],
        "grant_types": ["client_credentials"],
        "scope": scope,
        "post_logout_redirect_uris": [],
        "sector": sector,
    }
    values.update(extra)
    return Partner(make_rp(app, **values), sector)


@pytest.fixture
def library_partner(app: Flask) -> Partner:
    """Allowed library checks only."""
    return make_partner(app, "Kent Libraries", LIBRARY, "libraries.kent.example")


@pytest.fixture
def leisure_partner(app: Flask) -> Partner:
    """A leisure provider residents also sign in to: library checks, openid and profile."""
    return make_partner(
        app,
        "Leisure Kent",
        f"openid profile {LIBRARY}",
        "leisure.example",
        redirect_uris=["https://leisure.example/callback"],
        grant_types=["authorization_code", "client_credentials"],
    )


def service_token(client: FlaskClient, rp: RP, scope: str) -> dict[str, str]:
    response = client.post(
        "/oauth/token", data={"grant_type": "client_credentials", "scope": scope}, headers=rp.basic
    )
    assert response.status_code == 200, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['access_token']}"}


def resident_tokens(
    app: Flask, client: FlaskClient, resident: Resident, rp: RP, scope: str
) -> dict[str, Any]:
    """The resident signs in to ``rp`` and agrees (the code flow); the token response."""
    sign_in_client(app, client, resident)
    verifier, challenge = pkce_pair()
    query = get_code(client, rp, challenge, scope=scope)
    response = exchange(client, rp, query["code"], verifier)
    assert response.status_code == 200, response.get_json()
    return response.get_json()  # type: ignore[no-any-return]


def new_resident(app: Flask, **overrides: Any) -> str:
    with in_app(app):
        return create_resident(**overrides).id


def active_card(app: Flask, resident_id: str, **overrides: Any) -> str:
    """A card on the register (the issuing journey is tested in tests/cards)."""
    with in_app(app):
        values: dict[str, Any] = {
            "card_number": cards_dao.dao_next_card_number("982601"),
            "resident_id": resident_id,
            "status": CARD_ACTIVE,
            "expiry": date.today() + timedelta(days=365 * 5),
        }
        values.update(overrides)
        card = cards_dao.dao_create_card(**values)
        db_session.commit()
        return card.card_number


def check_card(client: FlaskClient, headers: dict[str, str], service: str, card_number: str) -> Any:
    return client.post(
        f"/api/v1/checks/{service}/by-card-number",
        json={"card_number": card_number},
        headers=headers,
    )


def check_subject(client: FlaskClient, headers: dict[str, str], service: str, subject: str) -> Any:
    return client.post(
        f"/api/v1/checks/{service}/by-subject", json={"subject": subject}, headers=headers
    )
