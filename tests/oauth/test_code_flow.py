"""End to end through the test client: authorize, consent, code, token, ID token, userinfo."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import KeySet

from idservice.auth.levels import ACR_PASSWORD
from idservice.models.residents import Resident
from tests.oauth.conftest import RP, exchange, get_code, jwks_of, pkce_pair


def test_code_flow_issues_verifiable_id_token_and_userinfo(
    app: Flask, signed_in: FlaskClient, rp: RP, resident: Resident
) -> None:
    verifier, challenge = pkce_pair()
    query = get_code(signed_in, rp, challenge, nonce="n-0S6_WzA2Mj", scope="openid profile email")
    assert query["state"] == "state-123"
    assert query["iss"] == "http://127.0.0.1:5000"
    response = exchange(signed_in, rp, query["code"], verifier)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "openid profile email"
    assert body["refresh_token"]
    assert response.headers["Cache-Control"] == "no-store"

    keys = KeySet.import_key_set(jwks_of(signed_in))
    id_token = jwt.decode(body["id_token"], keys, algorithms=["ES256"])
    claims = id_token.claims
    assert id_token.header["alg"] == "ES256"
    assert id_token.header["kid"] in {k["kid"] for k in jwks_of(signed_in)["keys"]}
    assert claims["iss"] == "http://127.0.0.1:5000"
    assert claims["aud"] == rp.client_id
    assert claims["nonce"] == "n-0S6_WzA2Mj"
    assert claims["acr"] == ACR_PASSWORD
    assert claims["amr"] == ["pwd"]
    assert isinstance(claims["auth_time"], int)
    assert claims["given_name"] == "Ada"
    assert claims["family_name"] == "Lovelace"
    assert claims["email"] == resident.email
    assert claims["email_verified"] is True
    assert "birthdate" not in claims  # never part of "profile"
    assert "address" not in claims  # not asked for
    assert claims["sub"] != resident.id  # pairwise, not the internal id
    assert "at_hash" in claims

    access = jwt.decode(body["access_token"], keys, algorithms=["ES256"])
    assert access.header["typ"] == "at+jwt"
    assert access.claims["client_id"] == rp.client_id
    assert access.claims["sub"] == claims["sub"]
    assert access.claims["scope"] == "openid profile email"
    assert {"jti", "iat", "exp", "aud", "iss"} <= set(access.claims)

    info = signed_in.get(
        "/oauth/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert info.status_code == 200, info.get_data(as_text=True)
    data = info.get_json()
    assert data["sub"] == claims["sub"]
    assert data["name"] == "Ada Lovelace"
    assert data["email"] == resident.email
    assert "phone_number" not in data
