"""Client authentication answers the same for an unknown client id and a wrong secret.

At the token, introspection and revocation endpoints, by HTTP Basic and in the form
body, and by the lean token path as by the Flask view: the same status, body and
``WWW-Authenticate``, after the same secret-hashing work, so neither the answer nor the
work done tells which client ids exist.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from idservice.models import oauth as oauth_models
from tests.oauth.conftest import RP, make_rp


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = f"{client_id}:{secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


@pytest.fixture
def service(app: Flask) -> RP:
    return make_rp(
        app,
        name="Bus operator",
        redirect_uris=[],
        grant_types=["client_credentials"],
        scope="entitlements:read",
        post_logout_redirect_uris=[],
    )


REQUESTS: dict[str, tuple[str, dict[str, str]]] = {
    "token, client_credentials": (
        "/oauth/token",
        {"grant_type": "client_credentials", "scope": "entitlements:read"},
    ),
    "token, authorization_code": (
        "/oauth/token",
        {"grant_type": "authorization_code", "code": "x", "redirect_uri": "https://a.example/"},
    ),
    "introspection": ("/oauth/introspect", {"token": "x"}),
    "revocation": ("/oauth/revoke", {"token": "x"}),
}


def answer(response: Any) -> tuple[int, Any, str | None]:
    return response.status_code, response.get_json(), response.headers.get("WWW-Authenticate")


@pytest.mark.parametrize("case", sorted(REQUESTS))
@pytest.mark.parametrize("how", ["basic", "post"])
def test_unknown_client_and_wrong_secret_get_the_same_answer(
    client: FlaskClient, service: RP, case: str, how: str
) -> None:
    path, data = REQUESTS[case]
    secret = service.client_secret or ""
    answers = []
    for client_id in ("no-such-client", service.client_id):
        if how == "basic":
            response = client.post(path, data=data, headers=basic(client_id, secret + "x"))
        else:
            form = {**data, "client_id": client_id, "client_secret": secret + "x"}
            response = client.post(path, data=form)
        answers.append(answer(response))
    unknown, wrong = answers
    assert unknown == wrong
    assert unknown[1]["error"] == "invalid_client"
    assert unknown[0] == 401


@pytest.mark.parametrize("case", sorted(REQUESTS))
def test_an_unknown_client_costs_the_same_hashing_as_a_wrong_secret(
    client: FlaskClient, service: RP, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    """The time an answer takes must not tell which client ids exist: the secret sent is
    hashed whether or not the client is known."""
    hashed: list[str] = []
    digest = oauth_models.secret_digest

    def counting(secret: str) -> str:
        hashed.append(secret)
        return digest(secret)

    monkeypatch.setattr(oauth_models, "secret_digest", counting)
    path, data = REQUESTS[case]
    counts = []
    for client_id in ("no-such-client", service.client_id):
        hashed.clear()
        client.post(path, data=data, headers=basic(client_id, "a-wrong-secret"))
        counts.append(hashed.count("a-wrong-secret"))
    assert counts[0] == counts[1] >= 1


def test_a_public_client_sending_a_secret_is_answered_like_an_unknown_one(
    app: Flask, client: FlaskClient
) -> None:
    public = make_rp(app, name="Kent app", public=True, scope="openid profile")
    data = {"grant_type": "authorization_code", "code": "x", "redirect_uri": public.redirect_uri}
    answers = [
        answer(client.post("/oauth/token", data=data, headers=basic(client_id, "guess")))
        for client_id in ("no-such-client", public.client_id)
    ]
    assert answers[0] == answers[1]


def test_right_secret_still_works(client: FlaskClient, service: RP) -> None:
    path, data = REQUESTS["token, client_credentials"]
    assert client.post(path, data=data, headers=service.basic).status_code == 200
    form = {**data, "client_id": service.client_id, "client_secret": service.client_secret or ""}
    assert client.post(path, data=form).status_code == 200
