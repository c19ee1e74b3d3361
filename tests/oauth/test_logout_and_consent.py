"""RP-initiated logout, and residents withdrawing consent from their account."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idservice.db import db_session
from idservice.models.audit import AuditRecord
from idservice.models.oauth import Consent, OAuthToken
from idservice.models.residents import Resident, ResidentSession
from tests.oauth.conftest import RP, csrf_from, exchange, get_code, make_rp, pkce_pair, query_of

SIGNED_OUT = "https://library.example.org/signed-out"


def tokens_for(client: FlaskClient, rp: RP) -> dict:
    verifier, challenge = pkce_pair()
    code = get_code(client, rp, challenge)["code"]
    return exchange(client, rp, code, verifier).get_json()  # type: ignore[no-any-return]


def session_ended(app: Flask, resident: Resident) -> bool:
    with app.app_context():
        rows = db_session.scalars(
            select(ResidentSession).where(ResidentSession.resident_id == resident.id)
        ).all()
        return bool(rows) and all(row.ended_at is not None for row in rows)


def test_logout_with_id_token_hint_redirects_with_state(
    app: Flask, signed_in: FlaskClient, rp: RP, resident: Resident
) -> None:
    id_token = tokens_for(signed_in, rp)["id_token"]
    query = urlencode(
        {"id_token_hint": id_token, "post_logout_redirect_uri": SIGNED_OUT, "state": "bye-1"}
    )
    response = signed_in.get(f"/oauth/logout?{query}")
    assert response.status_code == 302
    assert response.location.startswith(SIGNED_OUT)
    assert query_of(response.location) == {"state": "bye-1"}
    assert session_ended(app, resident)
    assert signed_in.get("/account").status_code == 302  # signed out


def test_logout_to_an_unregistered_uri_does_not_redirect_there(
    app: Flask, signed_in: FlaskClient, rp: RP, resident: Resident
) -> None:
    id_token = tokens_for(signed_in, rp)["id_token"]
    query = urlencode(
        {"id_token_hint": id_token, "post_logout_redirect_uri": "https://evil.example/"}
    )
    response = signed_in.get(f"/oauth/logout?{query}")
    assert response.status_code == 302
    assert response.location == "/signed-out"
    assert session_ended(app, resident)


def test_logout_without_a_valid_hint_asks_first(
    app: Flask, signed_in: FlaskClient, rp: RP, resident: Resident
) -> None:
    for query in (
        {"client_id": rp.client_id, "post_logout_redirect_uri": SIGNED_OUT},
        {"id_token_hint": "eyJhbGciOiJub25lIn0.e30.", "post_logout_redirect_uri": SIGNED_OUT},
    ):
        page = signed_in.get(f"/oauth/logout?{urlencode(query)}")
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        assert "Do you want to sign out of your Kent account?" in html
        assert not session_ended(app, resident)
    refused = signed_in.post("/oauth/logout", data={})
    assert refused.status_code == 400
    assert not session_ended(app, resident)
    confirmed = signed_in.post("/oauth/logout", data={"csrf_token": csrf_from(html)})
    assert confirmed.status_code == 302
    assert confirmed.location == "/signed-out"
    assert session_ended(app, resident)


def test_connected_services_lists_and_withdraws_consent(
    app: Flask, signed_in: FlaskClient, rp: RP, resident: Resident
) -> None:
    other = make_rp(app, name="Buses", redirect_uris=["https://buses.example.com/cb"])
    tokens = tokens_for(signed_in, rp)
    other_tokens = tokens_for(signed_in, other)
    page = signed_in.get("/account/connected-services")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "<h1>Connected services</h1>" in html
    assert "Kent Libraries" in html and "Buses" in html
    assert "your name" in html

    response = signed_in.post(
        f"/account/connected-services/{rp.client_id}/withdraw",
        data={"csrf_token": csrf_from(html)},
    )
    assert response.status_code == 302
    after = signed_in.get(response.location).get_data(as_text=True)
    assert "Kent Libraries can no longer use your Kent account." in after
    with app.app_context():
        consents = db_session.scalars(select(Consent)).all()
        assert [c.client_id for c in consents] == [other.client_id]
        rows = db_session.scalars(select(OAuthToken)).all()
        revoked = {row.client_id: row.revoked_at is not None for row in rows}
        assert revoked == {rp.client_id: True, other.client_id: False}
        audit = db_session.scalars(
            select(AuditRecord).where(AuditRecord.action == "oauth.consent_withdrawn")
        ).one()
        assert audit.resident_id == resident.id
        assert audit.channel == "web"
        assert audit.details == {"client_id": rp.client_id, "tokens_revoked": 1}
    refreshed = signed_in.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        headers=rp.basic,
    )
    assert refreshed.get_json()["error"] == "invalid_grant"
    info = signed_in.get(
        "/oauth/userinfo", headers={"Authorization": f"Bearer {other_tokens['access_token']}"}
    )
    assert info.status_code == 200
    # Consent is asked for again next time.
    again = signed_in.get(
        "/oauth/authorize",
        query_string={
            "response_type": "code",
            "client_id": rp.client_id,
            "redirect_uri": rp.redirect_uri,
            "scope": "openid",
            "code_challenge": pkce_pair()[1],
            "code_challenge_method": "S256",
        },
    )
    assert again.status_code == 200
    assert "wants to use your Kent account" in again.get_data(as_text=True)


def test_withdraw_needs_csrf_and_sign_in(
    app: Flask, client: FlaskClient, signed_in: FlaskClient, rp: RP
) -> None:
    tokens_for(signed_in, rp)
    response = signed_in.post(f"/account/connected-services/{rp.client_id}/withdraw", data={})
    assert response.status_code == 302
    with app.app_context():
        assert db_session.scalars(select(Consent)).one().client_id == rp.client_id
    missing = signed_in.get("/account/connected-services")
    assert missing.status_code == 200
    unknown = signed_in.post(
        "/account/connected-services/nobody/withdraw",
        data={"csrf_token": csrf_from(missing.get_data(as_text=True))},
    )
    assert unknown.status_code == 404
    anonymous = app.test_client().get("/account/connected-services")
    assert anonymous.status_code == 302
    assert anonymous.location.startswith("/sign-in")
