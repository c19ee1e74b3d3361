"""Refresh rotation, client credentials, introspection (RFC 7662) and revocation (RFC 7009)."""

from __future__ import annotations

import base64
import json

import pytest
from flask import Flask
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select

from idservice.config import Settings
from idservice.db import db_session
from idservice.models.oauth import OAuthToken
from tests.oauth.conftest import RP, exchange, get_code, jwks_of, make_rp, pkce_pair, token_count


@pytest.fixture
def service(app: Flask) -> RP:
    return make_rp(
        app,
        name="Stagecoach South East",
        redirect_uris=[],
        grant_types=["client_credentials"],
        scope="entitlements:read cards:read",
    )


def resident_tokens(client: FlaskClient, rp: RP, scope: str = "openid profile") -> dict:
    verifier, challenge = pkce_pair()
    code = get_code(client, rp, challenge, scope=scope)["code"]
    response = exchange(client, rp, code, verifier)
    assert response.status_code == 200
    return response.get_json()  # type: ignore[no-any-return]


def refresh(client: FlaskClient, rp: RP, token: str, **extra: str) -> object:
    data = {"grant_type": "refresh_token", "refresh_token": token, **extra}
    return client.post("/oauth/token", data=data, headers=rp.basic)


def service_token(client: FlaskClient, service: RP, scope: str = "cards:read") -> object:
    return client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": scope},
        headers=service.basic,
    )


def introspect(client: FlaskClient, rp: RP, token: str, **extra: str) -> dict:
    response = client.post("/oauth/introspect", data={"token": token, **extra}, headers=rp.basic)
    assert response.status_code == 200
    return response.get_json()  # type: ignore[no-any-return]


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_refresh_rotates_and_keeps_the_subject(app: Flask, signed_in: FlaskClient, rp: RP) -> None:
    first = resident_tokens(signed_in, rp)
    response = refresh(signed_in, rp, first["refresh_token"])
    assert response.status_code == 200, response.get_data(as_text=True)
    second = response.get_json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["scope"] == "openid profile"
    keys = KeySet.import_key_set(jwks_of(signed_in))
    subs = {jwt.decode(t["access_token"], keys).claims["sub"] for t in (first, second)}
    assert len(subs) == 1
    narrowed = refresh(signed_in, rp, second["refresh_token"], scope="openid").get_json()
    assert narrowed["scope"] == "openid"
    with app.app_context():
        rows = db_session.scalars(select(OAuthToken).order_by(OAuthToken.id)).all()
        assert len({row.family_id for row in rows}) == 1
        assert len({row.refresh_expires_at for row in rows}) == 1  # rotation never extends
        assert all(first["refresh_token"] not in (row.refresh_token_hash or "") for row in rows)


def test_refresh_cannot_widen_the_scope(app: Flask, signed_in: FlaskClient, rp: RP) -> None:
    first = resident_tokens(signed_in, rp, scope="openid")
    response = refresh(signed_in, rp, first["refresh_token"], scope="openid email")
    assert response.get_json()["error"] == "invalid_scope"
    assert token_count(app) == 1


def test_reused_refresh_token_is_invalid_grant_and_revokes_the_family(
    app: Flask, signed_in: FlaskClient, rp: RP
) -> None:
    first = resident_tokens(signed_in, rp)
    second = refresh(signed_in, rp, first["refresh_token"]).get_json()
    assert token_count(app) == 2
    reuse = refresh(signed_in, rp, first["refresh_token"])
    assert reuse.status_code == 400
    assert reuse.get_json()["error"] == "invalid_grant"
    assert token_count(app) == 2  # nothing issued
    with app.app_context():
        assert all(r.revoked_at is not None for r in db_session.scalars(select(OAuthToken)))
    # The newest refresh token of the family is dead too.
    assert refresh(signed_in, rp, second["refresh_token"]).get_json()["error"] == "invalid_grant"
    assert introspect(signed_in, rp, second["access_token"]) == {"active": False}


def test_refresh_only_for_clients_allowed_the_grant(app: Flask, signed_in: FlaskClient) -> None:
    no_refresh = make_rp(app, name="One-off", grant_types=["authorization_code"])
    tokens = resident_tokens(signed_in, no_refresh)
    assert "refresh_token" not in tokens
    # And a refresh token cannot be used by a client without the grant.
    rp = make_rp(app, name="Refresher", redirect_uris=["https://refresher.example/cb"])
    refresh_token = resident_tokens(signed_in, rp)["refresh_token"]
    response = refresh(signed_in, no_refresh, refresh_token)
    assert response.get_json()["error"] == "unauthorized_client"


def test_client_credentials_issues_an_rfc9068_access_token(
    app: Flask, client: FlaskClient, service: RP, settings: Settings
) -> None:
    response = service_token(client, service, scope="cards:read")
    assert response.status_code == 200
    body = response.get_json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == settings.access_token_lifetime
    assert "refresh_token" not in body and "id_token" not in body
    keys = KeySet.import_key_set(jwks_of(client))
    decoded = jwt.decode(body["access_token"], keys, algorithms=["ES256"])
    assert decoded.header["typ"] == "at+jwt"
    claims = decoded.claims
    assert claims["sub"] == service.client_id
    assert claims["client_id"] == service.client_id
    assert claims["scope"] == "cards:read"
    assert claims["iss"] == settings.issuer
    assert claims["exp"] - claims["iat"] == settings.access_token_lifetime
    with app.app_context():
        row = db_session.scalars(select(OAuthToken)).one()
        assert row.jti == claims["jti"]
        assert row.resident_id is None and row.refresh_token_hash is None


def test_client_credentials_scope_rules(app: Flask, client: FlaskClient, service: RP) -> None:
    for scope in ("openid", "cards:read wizardry", "profile"):
        response = service_token(client, service, scope=scope)
        assert response.status_code == 400, scope
        assert response.get_json()["error"] == "invalid_scope", scope
    assert service_token(client, service, scope="").get_json()["error"] == "invalid_scope"
    narrow = make_rp(
        app,
        name="Library kiosk",
        redirect_uris=[],
        grant_types=["client_credentials"],
        scope="cards:read",
    )
    response = service_token(client, narrow, scope="entitlements:read")
    assert response.get_json()["error"] == "invalid_scope"
    assert token_count(app) == 0


def test_client_without_the_grant_cannot_use_client_credentials(
    app: Flask, client: FlaskClient, rp: RP
) -> None:
    response = service_token(client, rp, scope="cards:read")
    assert response.get_json()["error"] == "unauthorized_client"
    assert token_count(app) == 0


def test_introspection_of_active_tokens(app: Flask, signed_in: FlaskClient, rp: RP) -> None:
    tokens = resident_tokens(signed_in, rp)
    access = introspect(signed_in, rp, tokens["access_token"])
    assert access["active"] is True
    assert access["client_id"] == rp.client_id
    assert access["scope"] == "openid profile"
    assert access["token_type"] == "Bearer"
    assert access["iss"] == "http://127.0.0.1:5000"
    refresh_info = introspect(
        signed_in, rp, tokens["refresh_token"], token_type_hint="refresh_token"
    )
    assert refresh_info["active"] is True
    assert refresh_info["token_type"] == "refresh_token"
    assert refresh_info["sub"] == access["sub"]


def test_introspection_rejects_alg_none_and_changed_signatures(
    client: FlaskClient, service: RP
) -> None:
    token = service_token(client, service).get_json()["access_token"]
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    unsigned = f"{b64({'alg': 'none', 'typ': 'at+jwt'})}.{payload}."
    assert introspect(client, service, unsigned) == {"active": False}
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    assert introspect(client, service, f"{header}.{payload}.{flipped}") == {"active": False}
    widened = b64({**claims, "scope": "cards:read entitlements:read"})
    assert introspect(client, service, f"{header}.{widened}.{signature}") == {"active": False}
    assert introspect(client, service, "not-a-token") == {"active": False}
    assert introspect(client, service, token)["active"] is True


def test_introspection_of_expired_revoked_unknown_and_other_clients_tokens(
    app: Flask,
    client: FlaskClient,
    service: RP,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token = service_token(client, service).get_json()["access_token"]
    other = make_rp(
        app,
        name="Another",
        redirect_uris=[],
        grant_types=["client_credentials"],
        scope="cards:read",
    )
    assert introspect(client, other, token) == {"active": False}
    monkeypatch.setattr(settings, "access_token_lifetime", -5)
    expired = service_token(client, service).get_json()["access_token"]
    assert introspect(client, service, expired) == {"active": False}
    with app.app_context():
        db_session.execute(OAuthToken.__table__.delete())
        db_session.commit()
    assert introspect(client, service, token) == {"active": False}  # unknown jti


def test_introspection_needs_client_authentication(client: FlaskClient, service: RP) -> None:
    token = service_token(client, service).get_json()["access_token"]
    response = client.post("/oauth/introspect", data={"token": token})
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"


def test_revoking_an_access_token(app: Flask, client: FlaskClient, service: RP) -> None:
    token = service_token(client, service).get_json()["access_token"]
    response = client.post("/oauth/revoke", data={"token": token}, headers=service.basic)
    assert response.status_code == 200
    assert introspect(client, service, token) == {"active": False}
    unknown = client.post(
        "/oauth/revoke", data={"token": "nothing-we-issued"}, headers=service.basic
    )
    assert unknown.status_code == 200  # RFC 7009: unknown tokens are not an error


def test_revoking_a_refresh_token_revokes_its_family(
    app: Flask, signed_in: FlaskClient, rp: RP
) -> None:
    first = resident_tokens(signed_in, rp)
    second = refresh(signed_in, rp, first["refresh_token"]).get_json()
    response = signed_in.post(
        "/oauth/revoke",
        data={"token": second["refresh_token"], "token_type_hint": "refresh_token"},
        headers=rp.basic,
    )
    assert response.status_code == 200
    assert refresh(signed_in, rp, second["refresh_token"]).get_json()["error"] == "invalid_grant"
    assert introspect(signed_in, rp, second["access_token"]) == {"active": False}
    assert introspect(signed_in, rp, first["access_token"]) == {"active": False}


def test_a_client_cannot_revoke_another_clients_token(
    app: Flask, client: FlaskClient, service: RP
) -> None:
    token = service_token(client, service).get_json()["access_token"]
    other = make_rp(
        app,
        name="Another",
        redirect_uris=[],
        grant_types=["client_credentials"],
        scope="cards:read",
    )
    response = client.post("/oauth/revoke", data={"token": token}, headers=other.basic)
    assert response.status_code == 400
    assert introspect(client, service, token)["active"] is True


def test_userinfo_needs_a_resident_token_with_openid(
    app: Flask, signed_in: FlaskClient, rp: RP, service: RP
) -> None:
    service_access = service_token(signed_in, service).get_json()["access_token"]
    response = signed_in.get(
        "/oauth/userinfo", headers={"Authorization": f"Bearer {service_access}"}
    )
    assert response.status_code == 403
    assert response.get_json()["error"] == "insufficient_scope"
    response = signed_in.get("/oauth/userinfo", headers={"Authorization": "Bearer garbage"})
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_token"
    missing = signed_in.get("/oauth/userinfo")
    assert missing.status_code == 401
    assert missing.get_json()["error"] == "missing_authorization"
