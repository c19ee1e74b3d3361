"""Discovery, JWKS and key rotation: publish before signing, retire after expiry."""

from __future__ import annotations

from datetime import timedelta

import pytest
from authlib.oidc.discovery import OpenIDProviderMetadata
from cryptography.exceptions import InvalidTag
from flask import Flask
from flask.testing import FlaskClient
from joserfc import jwt
from sqlalchemy import select, update

from idservice.config import Settings
from idservice.db import db_session
from idservice.models.base import utcnow
from idservice.models.oauth import SigningKey
from idservice.oauth.keys import REFRESH_SECONDS, KeyStore, decrypt_private_key
from tests.oauth.conftest import RP, jwks_of, make_rp


def store(app: Flask) -> KeyStore:
    return app.extensions["kentcard_oauth_keys"]  # type: ignore[no-any-return]


@pytest.fixture
def service(app: Flask) -> RP:
    return make_rp(
        app,
        name="Stagecoach",
        redirect_uris=[],
        grant_types=["client_credentials"],
        scope="cards:read",
    )


def service_token(client: FlaskClient, service: RP) -> str:
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "cards:read"},
        headers=service.basic,
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return str(response.get_json()["access_token"])


def introspect(client: FlaskClient, service: RP, token: str) -> dict:
    response = client.post("/oauth/introspect", data={"token": token}, headers=service.basic)
    assert response.status_code == 200
    return response.get_json()  # type: ignore[no-any-return]


def test_discovery_is_valid_and_follows_the_issuer_setting(
    client: FlaskClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = client.get("/.well-known/openid-configuration").get_json()
    metadata = OpenIDProviderMetadata(data)
    for key in metadata.REGISTRY_KEYS:
        # Discovery asks for RS256 too; we sign with ES256 only (see docs/oidc.md).
        if key != "id_token_signing_alg_values_supported":
            getattr(metadata, f"validate_{key}")()
    assert data["issuer"] == "http://127.0.0.1:5000"
    assert data["token_endpoint"] == "http://127.0.0.1:5000/oauth/token"
    assert data["code_challenge_methods_supported"] == ["S256"]
    assert data["subject_types_supported"] == ["pairwise"]
    assert data["authorization_response_iss_parameter_supported"] is True
    assert data["id_token_signing_alg_values_supported"] == ["ES256"]
    monkeypatch.setattr(settings, "issuer", "https://account.kent.gov.uk")
    moved = client.get("/.well-known/openid-configuration").get_json()
    assert moved["issuer"] == "https://account.kent.gov.uk"
    assert moved["jwks_uri"] == "https://account.kent.gov.uk/.well-known/jwks.json"


def test_jwks_has_an_es256_key_created_on_first_use(app: Flask, client: FlaskClient) -> None:
    keys = jwks_of(client)["keys"]
    assert len(keys) == 1
    key = keys[0]
    assert (key["kty"], key["crv"], key["alg"], key["use"]) == ("EC", "P-256", "ES256", "sig")
    assert "d" not in key  # never the private part
    with app.app_context():
        assert db_session.scalar(select(SigningKey.kid)) == key["kid"]


def test_private_keys_are_encrypted_at_rest(app: Flask, client: FlaskClient) -> None:
    jwks_of(client)
    with app.app_context():
        row = db_session.scalars(select(SigningKey)).one()
        assert b"PRIVATE KEY" not in row.private_key_encrypted
        pem = decrypt_private_key(app.config["SECRET_KEY"], row.kid, row.private_key_encrypted)
        assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
        with pytest.raises(InvalidTag):
            decrypt_private_key("another secret", row.kid, row.private_key_encrypted)


def test_rotation_publishes_before_signing(
    app: Flask,
    client: FlaskClient,
    service: RP,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    old_kid = jwt.decode(service_token(client, service), store(app).verification_keys()).header[
        "kid"
    ]
    monkeypatch.setattr(settings, "key_publish_lead", 3600)
    with app.app_context():
        new = store(app).rotate()
    published = {k["kid"] for k in jwks_of(client)["keys"]}
    assert published == {old_kid, new.kid}
    token = service_token(client, service)
    assert jwt.decode(token, store(app).verification_keys()).header["kid"] == old_kid
    later = utcnow() + timedelta(seconds=3601)
    assert store(app).signing_key(later).kid == new.kid
    statuses = {s.kid: s.status for s in store(app).statuses(later)}
    assert statuses == {old_kid: "retiring", new.kid: "signing"}


def test_old_key_is_kept_until_its_tokens_expire_then_dropped(
    app: Flask, client: FlaskClient, service: RP, settings: Settings
) -> None:
    old_token = service_token(client, service)
    old_kid = jwt.decode(old_token, store(app).verification_keys()).header["kid"]
    with app.app_context():
        new = store(app).rotate()  # key_publish_lead is 0 in tests: signs at once
    new_token = service_token(client, service)
    assert jwt.decode(new_token, store(app).verification_keys()).header["kid"] == new.kid
    assert {k["kid"] for k in jwks_of(client)["keys"]} == {old_kid, new.kid}
    assert introspect(client, service, old_token)["active"] is True

    lifetime = max(settings.id_token_lifetime, settings.access_token_lifetime)
    just_before = new.signs_from + timedelta(seconds=lifetime + REFRESH_SECONDS - 1)
    after = new.signs_from + timedelta(seconds=lifetime + REFRESH_SECONDS + 1)
    assert {k["kid"] for k in store(app).published(just_before)} == {old_kid, new.kid}
    assert {k["kid"] for k in store(app).published(after)} == {new.kid}

    # Move the new key's start back past the retention: the old key leaves the JWKS and
    # what it signed is no longer accepted.
    retention = timedelta(seconds=lifetime + REFRESH_SECONDS)
    with app.app_context():
        for kid, ago in ((old_kid, 2 * retention), (new.kid, retention + timedelta(seconds=5))):
            db_session.execute(
                update(SigningKey).where(SigningKey.kid == kid).values(signs_from=utcnow() - ago)
            )
        db_session.commit()
    store(app).reset()
    assert {k["kid"] for k in jwks_of(client)["keys"]} == {new.kid}
    assert introspect(client, service, old_token) == {"active": False}
    assert introspect(client, service, new_token)["active"] is True


def test_discovery_advertises_only_levels_a_resident_can_reach(client: FlaskClient) -> None:
    """Card + PIN sign-in exists at kiosks (tests/cards/test_card_sign_in.py)."""
    metadata = client.get("/.well-known/openid-configuration").get_json()
    assert metadata["acr_values_supported"] == [
        "urn:kentcard:acr:password",
        "urn:kentcard:acr:mfa",
        "urn:kentcard:acr:card-pin",
    ]
