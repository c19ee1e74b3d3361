"""Fixtures for the OpenID Connect provider tests: clients, residents, the code flow."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from idservice.db import db_session
from idservice.models.oauth import OAuthToken
from idservice.models.residents import Resident
from idservice.oauth.clients import register_client
from tests.factories import create_resident, sign_in_client

REDIRECT_URI = "https://library.example.org/callback"


@pytest.fixture(autouse=True)
def _fresh_keys(app: Flask) -> Iterator[None]:
    """Tables are emptied between tests, so the key cache must be too."""
    app.extensions["kentcard_oauth_keys"].reset()
    yield
    app.extensions["kentcard_oauth_keys"].reset()


@dataclass
class RP:
    """A registered relying party as the tests see it."""

    client_id: str
    client_secret: str | None
    redirect_uri: str

    @property
    def basic(self) -> dict[str, str]:
        raw = f"{self.client_id}:{self.client_secret}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def make_rp(app: Flask, **overrides: Any) -> RP:
    values: dict[str, Any] = {
        "name": "Kent Libraries",
        "redirect_uris": [REDIRECT_URI],
        "grant_types": ["authorization_code", "refresh_token"],
        "scope": "openid profile email address phone birthdate",
        "post_logout_redirect_uris": ["https://library.example.org/signed-out"],
    }
    values.update(overrides)
    with app.app_context():
        registered = register_client(**values)
        db_session.commit()
        uris = registered.client.redirect_uris
        return RP(registered.client.client_id, registered.client_secret, uris[0] if uris else "")


@pytest.fixture
def rp(app: Flask) -> RP:
    return make_rp(app)


@pytest.fixture
def resident(app: Flask) -> Resident:
    with app.app_context():
        return create_resident(phone="03000414141")


@pytest.fixture
def signed_in(app: Flask, client: FlaskClient, resident: Resident) -> FlaskClient:
    sign_in_client(app, client, resident)
    return client


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def authorize_params(rp: RP, challenge: str | None, **extra: str) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": rp.client_id,
        "redirect_uri": rp.redirect_uri,
        "scope": "openid profile email",
        "state": "state-123",
        "nonce": secrets.token_urlsafe(12),
    }
    if challenge:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    params.update(extra)
    return params


def get_code(client: FlaskClient, rp: RP, challenge: str | None, **extra: str) -> dict[str, str]:
    """Authorize, allow on the consent page if asked, return the redirect's query."""
    params = authorize_params(rp, challenge, **extra)
    response = client.get("/oauth/authorize", query_string=params)
    if response.status_code == 200:
        assert b"wants to use your Kent account" in response.data
        response = client.post(
            response.request.full_path,
            data={"csrf_token": csrf_from(response.get_data(as_text=True)), "decision": "allow"},
        )
    assert response.status_code == 302, response.get_data(as_text=True)
    assert response.location.startswith(rp.redirect_uri)
    return query_of(response.location)


def exchange(client: FlaskClient, rp: RP, code: str, verifier: str | None) -> Any:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": rp.redirect_uri}
    if verifier:
        data["code_verifier"] = verifier
    if rp.client_secret is None:
        data["client_id"] = rp.client_id
        return client.post("/oauth/token", data=data)
    return client.post("/oauth/token", data=data, headers=rp.basic)


def token_count(app: Flask) -> int:
    with app.app_context():
        return int(db_session.scalar(select(func.count()).select_from(OAuthToken)) or 0)


def jwks_of(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    return response.get_json()  # type: ignore[no-any-return]
