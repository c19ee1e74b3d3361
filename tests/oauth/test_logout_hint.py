"""Which ``id_token_hint`` signs a browser out at once (OpenID Connect RP-Initiated Logout).

Only an ID token this service issued to one of its registered clients, for the resident
signed in on this browser, ends the session without asking. Anything else the service
signed (another resident's ID token, an access token, a partner's client_credentials
token) leads to the confirmation page, and the session stays until the resident confirms.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

from flask import Flask
from flask.testing import FlaskClient
from joserfc import jwt

from idservice.db import db_session
from idservice.models.oauth import OAuthClient
from idservice.models.residents import Resident
from idservice.oauth.tokens import keystore
from tests.factories import create_resident, sign_in_client
from tests.oauth.conftest import RP, csrf_from, make_rp, query_of
from tests.oauth.test_logout_and_consent import SIGNED_OUT, session_ended, tokens_for

CONFIRM = "Do you want to sign out of your Kent account?"


def logout(client: FlaskClient, hint: str, **extra: str) -> Any:
    query = {"id_token_hint": hint, "post_logout_redirect_uri": SIGNED_OUT, "state": "s1"}
    query.update(extra)
    return client.get(f"/oauth/logout?{urlencode(query)}")


def asks_first(app: Flask, response: Any, resident: Resident) -> bool:
    """The confirmation page, no redirect to the service, and still signed in."""
    return (
        response.status_code == 200
        and CONFIRM in response.get_data(as_text=True)
        and not session_ended(app, resident)
    )


def claims_of(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, keystore().verification_keys(), algorithms=["ES256"]).claims)


def resign(app: Flask, token: str, header: dict[str, Any] | None = None, **changes: Any) -> str:
    """The same token's claims, changed and signed again with the service's own key."""
    with app.app_context():
        claims = claims_of(token)
        claims.update(changes)
        key = keystore().signing_key()
        return jwt.encode(header or {"alg": "ES256", "kid": key.kid}, claims, key)


def other_residents_id_token(app: Flask, rp: RP) -> str:
    with app.app_context():
        other = create_resident(email="someone.else@example.org")
    browser = app.test_client()
    sign_in_client(app, browser, other)
    return str(tokens_for(browser, rp)["id_token"])


def test_another_residents_id_token_does_not_sign_out(
    app: Flask, signed_in: FlaskClient, rp: RP, resident: Resident
) -> None:
    hint = other_residents_id_token(app, rp)
    response = logout(signed_in, hint)
    assert asks_first(app, response, resident)


def test_a_partners_access_token_does_not_sign_out(
    app: Flask, client: FlaskClient, signed_in: FlaskClient, resident: Resident
) -> None:
    partner = make_rp(
        app,
        name="Bus operator",
        redirect_uris=[],
        grant_types=["client_credentials"],
        scope="entitlements:read",
        post_logout_redirect_uris=[],
    )
    issued = app.test_client().post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "entitlements:read"},
        headers=partner.basic,
    )
    assert issued.status_code == 200
    response = logout(signed_in, issued.get_json()["access_token"])
    assert asks_first(app, response, resident)


def test_the_residents_own_access_token_does_not_sign_out(
    app: Flask, signed_in: FlaskClient, rp: RP, resident: Resident
) -> None:
    """An access token is never an ID token, even for the right resident and client."""
    tokens = tokens_for(signed_in, rp)
    assert asks_first(app, logout(signed_in, tokens["access_token"]), resident)
    # Its claims made to look like an ID token, but still typed as an access token.
    with app.app_context():
        kid = keystore().signing_key().kid
    at_typed = resign(
        app,
        tokens["id_token"],
        header={"alg": "ES256", "typ": "at+jwt", "kid": kid},
    )
    assert asks_first(app, logout(signed_in, at_typed), resident)


def test_a_hint_for_the_signed_in_resident_signs_out(
    app: Flask, signed_in: FlaskClient, rp: RP, resident: Resident
) -> None:
    hint = tokens_for(signed_in, rp)["id_token"]
    response = logout(signed_in, hint)
    assert response.status_code == 302
    assert response.location.startswith(SIGNED_OUT)
    assert query_of(response.location) == {"state": "s1"}
    assert session_ended(app, resident)


def test_a_hint_from_another_issuer_or_for_an_unknown_client_asks_first(
    app: Flask, signed_in: FlaskClient, rp: RP, resident: Resident
) -> None:
    hint = tokens_for(signed_in, rp)["id_token"]
    issuer = app.config["KENTCARD"].issuer
    for changes in (
        {"iss": "https://elsewhere.example"},
        {"aud": "no-such-client"},
        {"aud": issuer},
        {"aud": [rp.client_id, "another"]},
        {"client_id": rp.client_id, "scope": "openid"},  # an access token's claims
        {"sub": ""},
    ):
        forged = resign(app, hint, **changes)
        assert asks_first(app, logout(signed_in, forged), resident), changes


def test_a_hint_for_a_withdrawn_client_asks_first(
    app: Flask, signed_in: FlaskClient, rp: RP, resident: Resident
) -> None:
    hint = tokens_for(signed_in, rp)["id_token"]
    with app.app_context():
        row = db_session.query(OAuthClient).filter_by(client_id=rp.client_id).one()
        row.active = False
        db_session.commit()
    app.extensions["kentcard_oauth_clients"].forget()
    assert asks_first(app, logout(signed_in, hint), resident)


def test_client_id_must_match_the_hints_audience(
    app: Flask, signed_in: FlaskClient, rp: RP, resident: Resident
) -> None:
    other = make_rp(app, name="Buses", redirect_uris=["https://buses.example.com/cb"])
    hint = tokens_for(signed_in, rp)["id_token"]
    assert asks_first(app, logout(signed_in, hint, client_id=other.client_id), resident)


def test_an_expired_hint_from_this_session_signs_out(
    app: Flask, signed_in: FlaskClient, rp: RP, resident: Resident
) -> None:
    """RP-Initiated Logout section 2: the OP should accept an expired ID token when the
    service's session is current; here, when it was issued during this browser session."""
    hint = tokens_for(signed_in, rp)["id_token"]
    expired = resign(app, hint, exp=int(time.time()) - 60)
    response = logout(signed_in, expired)
    assert response.status_code == 302
    assert response.location.startswith(SIGNED_OUT)
    assert session_ended(app, resident)


def test_an_expired_hint_from_an_earlier_session_asks_first(
    app: Flask, signed_in: FlaskClient, rp: RP, resident: Resident
) -> None:
    hint = tokens_for(signed_in, rp)["id_token"]
    old = int(time.time()) - 86_400
    expired = resign(app, hint, iat=old, exp=old + 3600)
    assert asks_first(app, logout(signed_in, expired), resident)
    # After confirming, the resident is signed out but not sent to the service.
    page = signed_in.get(f"/oauth/logout?{urlencode({'id_token_hint': expired})}")
    confirmed = signed_in.post(
        "/oauth/logout", data={"csrf_token": csrf_from(page.get_data(as_text=True))}
    )
    assert confirmed.status_code == 302
    assert confirmed.location == "/signed-out"
    assert session_ended(app, resident)


def test_without_a_session_a_valid_hint_returns_to_the_service(
    app: Flask, signed_in: FlaskClient, rp: RP
) -> None:
    """Nothing to end, so nothing to confirm: back to the registered address, with state."""
    hint = tokens_for(signed_in, rp)["id_token"]
    response = logout(app.test_client(), hint)
    assert response.status_code == 302
    assert response.location.startswith(SIGNED_OUT)
    assert query_of(response.location) == {"state": "s1"}
    stranger = logout(app.test_client(), hint, post_logout_redirect_uri="https://evil.example/")
    assert stranger.status_code == 302
    assert stranger.location == "/signed-out"
