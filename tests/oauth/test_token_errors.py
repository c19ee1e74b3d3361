"""Every token endpoint error gives the right OAuth error, and nothing is issued."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from idservice.db import db_session
from idservice.models.base import utcnow
from idservice.models.oauth import AuthorizationCode, OAuthToken
from tests.oauth.conftest import RP, exchange, get_code, make_rp, pkce_pair, token_count


def test_missing_pkce_verifier_is_invalid_grant(app: Flask, signed_in: FlaskClient, rp: RP) -> None:
    code = get_code(signed_in, rp, pkce_pair()[1])["code"]
    response = exchange(signed_in, rp, code, None)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_grant"
    assert token_count(app) == 0


def test_wrong_pkce_verifier_is_invalid_grant(app: Flask, signed_in: FlaskClient, rp: RP) -> None:
    code = get_code(signed_in, rp, pkce_pair()[1])["code"]
    other_verifier, _ = pkce_pair()
    response = exchange(signed_in, rp, code, other_verifier)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_grant"
    assert token_count(app) == 0


def test_replayed_code_is_invalid_grant_and_revokes_what_it_issued(
    app: Flask, signed_in: FlaskClient, rp: RP
) -> None:
    verifier, challenge = pkce_pair()
    code = get_code(signed_in, rp, challenge)["code"]
    first = exchange(signed_in, rp, code, verifier)
    assert first.status_code == 200
    tokens = first.get_json()
    refreshed = signed_in.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        headers=rp.basic,
    )
    assert refreshed.status_code == 200
    assert token_count(app) == 2

    replay = exchange(signed_in, rp, code, verifier)
    assert replay.status_code == 400
    assert replay.get_json()["error"] == "invalid_grant"
    assert token_count(app) == 2  # nothing new
    with app.app_context():
        rows = db_session.scalars(select(OAuthToken)).all()
        assert all(row.revoked_at is not None for row in rows)  # including the refreshed one
    info = signed_in.get(
        "/oauth/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert info.status_code == 401
    assert info.get_json()["error"] == "invalid_token"


def test_expired_code_is_invalid_grant(app: Flask, signed_in: FlaskClient, rp: RP) -> None:
    verifier, challenge = pkce_pair()
    code = get_code(signed_in, rp, challenge)["code"]
    with app.app_context():
        db_session.execute(
            update(AuthorizationCode).values(expires_at=utcnow() - timedelta(seconds=1))
        )
        db_session.commit()
    response = exchange(signed_in, rp, code, verifier)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_grant"
    assert token_count(app) == 0


def test_codes_are_stored_hashed_and_expire_quickly(
    app: Flask, signed_in: FlaskClient, rp: RP
) -> None:
    code = get_code(signed_in, rp, pkce_pair()[1])["code"]
    with app.app_context():
        row = db_session.scalars(select(AuthorizationCode)).one()
        assert row.code_hash != code and code not in row.code_hash
        lifetime = (row.expires_at - row.created_at).total_seconds()
        assert lifetime == app.config["KENTCARD"].authorization_code_lifetime


def test_code_redirect_uri_must_match(app: Flask, signed_in: FlaskClient, rp: RP) -> None:
    verifier, challenge = pkce_pair()
    code = get_code(signed_in, rp, challenge)["code"]
    response = signed_in.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": "https://library.example.org/other",
        },
        headers=rp.basic,
    )
    assert response.get_json()["error"] == "invalid_grant"
    assert token_count(app) == 0


def test_code_issued_to_another_client_is_invalid_grant(
    app: Flask, signed_in: FlaskClient, rp: RP
) -> None:
    verifier, challenge = pkce_pair()
    code = get_code(signed_in, rp, challenge)["code"]
    thief = make_rp(app, name="Thief", redirect_uris=[rp.redirect_uri])
    response = exchange(signed_in, thief, code, verifier)
    assert response.get_json()["error"] == "invalid_grant"
    assert token_count(app) == 0


def test_unknown_client_is_invalid_client(app: Flask, client: FlaskClient, rp: RP) -> None:
    stranger = RP("no-such-client", "whatever", rp.redirect_uri)
    response = client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers=stranger.basic
    )
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"
    assert response.headers["WWW-Authenticate"].startswith("Basic ")
    assert token_count(app) == 0


def test_wrong_client_secret_is_invalid_client(app: Flask, signed_in: FlaskClient, rp: RP) -> None:
    verifier, challenge = pkce_pair()
    code = get_code(signed_in, rp, challenge)["code"]
    wrong = RP(rp.client_id, "not-the-secret", rp.redirect_uri)
    basic = exchange(signed_in, wrong, code, verifier)
    assert basic.status_code == 401
    assert basic.get_json()["error"] == "invalid_client"
    assert 'error="invalid_client"' in basic.headers["WWW-Authenticate"]
    post = signed_in.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": rp.redirect_uri,
            "client_id": rp.client_id,
            "client_secret": "not-the-secret",
        },
    )
    assert post.status_code in (400, 401)
    assert post.get_json()["error"] == "invalid_client"
    assert token_count(app) == 0
    # The code was not used up by the failed attempts.
    assert exchange(signed_in, rp, code, verifier).status_code == 200


def test_confidential_client_cannot_skip_authentication(
    app: Flask, signed_in: FlaskClient, rp: RP
) -> None:
    verifier, challenge = pkce_pair()
    code = get_code(signed_in, rp, challenge)["code"]
    response = signed_in.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": rp.redirect_uri,
            "client_id": rp.client_id,
        },
    )
    assert response.get_json()["error"] == "invalid_client"
    assert token_count(app) == 0


def test_unsupported_grant_type(app: Flask, client: FlaskClient, rp: RP) -> None:
    response = client.post(
        "/oauth/token", data={"grant_type": "password", "username": "x"}, headers=rp.basic
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "unsupported_grant_type"
    assert token_count(app) == 0
