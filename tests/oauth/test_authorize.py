"""The authorization endpoint: sign-in, step-up, prompt, consent, scopes and PKCE rules."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

from flask import Flask
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import func, select

from idservice.auth.levels import ACR_CARD_PIN, ACR_MFA, AMR_CARD_PIN, AMR_PASSWORD_OTP
from idservice.db import db_session
from idservice.models.audit import AuditRecord
from idservice.models.oauth import AuthorizationCode
from idservice.models.residents import Resident, ResidentSession
from tests.factories import sign_in_client
from tests.oauth.conftest import (
    RP,
    authorize_params,
    csrf_from,
    exchange,
    get_code,
    jwks_of,
    make_rp,
    pkce_pair,
    query_of,
)


def code_count(app: Flask) -> int:
    with app.app_context():
        return int(db_session.scalar(select(func.count()).select_from(AuthorizationCode)) or 0)


def id_token_claims(client: FlaskClient, rp: RP, **extra: str) -> dict:
    verifier, challenge = pkce_pair()
    code = get_code(client, rp, challenge, **extra)["code"]
    body = exchange(client, rp, code, verifier).get_json()
    keys = KeySet.import_key_set(jwks_of(client))
    return dict(jwt.decode(body["id_token"], keys, algorithms=["ES256"]).claims)


def test_nobody_signed_in_goes_to_sign_in_and_back(client: FlaskClient, rp: RP) -> None:
    params = authorize_params(rp, pkce_pair()[1])
    response = client.get("/oauth/authorize", query_string=params)
    assert response.status_code == 302
    location = urlsplit(response.location)
    assert location.path == "/sign-in"
    next_url = parse_qs(location.query)["next"][0]
    assert next_url.startswith("/oauth/authorize?")
    assert parse_qs(urlsplit(next_url).query)["client_id"] == [rp.client_id]
    assert parse_qs(urlsplit(next_url).query)["state"] == ["state-123"]


def test_prompt_none_without_session_is_login_required(client: FlaskClient, rp: RP) -> None:
    params = authorize_params(rp, pkce_pair()[1], prompt="none")
    response = client.get("/oauth/authorize", query_string=params)
    assert response.status_code == 302
    query = query_of(response.location)
    assert response.location.startswith(rp.redirect_uri)
    assert query["error"] == "login_required"
    assert query["state"] == "state-123"
    assert query["iss"] == "http://127.0.0.1:5000"


def test_prompt_none_without_consent_is_consent_required(
    app: Flask, signed_in: FlaskClient, rp: RP
) -> None:
    params = authorize_params(rp, pkce_pair()[1], prompt="none")
    query = query_of(signed_in.get("/oauth/authorize", query_string=params).location)
    assert query["error"] == "consent_required"
    assert code_count(app) == 0


def test_consent_page_then_remembered_and_prompt_consent_asks_again(
    app: Flask, signed_in: FlaskClient, rp: RP, resident: Resident
) -> None:
    params = authorize_params(rp, pkce_pair()[1], scope="openid profile address")
    page = signed_in.get("/oauth/authorize", query_string=params)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "<h1>Kent Libraries wants to use your Kent account</h1>" in html
    assert "your name" in html and "your home address" in html
    assert "your email address" not in html
    assert ">Allow</button>" in html and ">Cancel</button>" in html
    allowed = signed_in.post(
        page.request.full_path, data={"csrf_token": csrf_from(html), "decision": "allow"}
    )
    assert "code" in query_of(allowed.location)
    with app.app_context():
        audit = db_session.scalars(
            select(AuditRecord).where(AuditRecord.action == "oauth.consent_granted")
        ).one()
        assert audit.resident_id == resident.id
        assert audit.channel == "web"
        assert audit.details == {
            "client_id": rp.client_id,
            "scopes": ["openid", "profile", "address"],
        }
    # Same or fewer scopes: straight back with a code, prompt=none works too.
    again = signed_in.get(
        "/oauth/authorize",
        query_string=authorize_params(rp, pkce_pair()[1], scope="openid profile", prompt="none"),
    )
    assert "code" in query_of(again.location)
    # More scopes, or prompt=consent: asked again.
    more = authorize_params(rp, pkce_pair()[1], scope="openid email")
    assert signed_in.get("/oauth/authorize", query_string=more).status_code == 200
    forced = authorize_params(rp, pkce_pair()[1], scope="openid profile", prompt="consent")
    assert signed_in.get("/oauth/authorize", query_string=forced).status_code == 200


def test_cancel_on_consent_page_is_access_denied(
    app: Flask, signed_in: FlaskClient, rp: RP
) -> None:
    page = signed_in.get("/oauth/authorize", query_string=authorize_params(rp, pkce_pair()[1]))
    denied = signed_in.post(
        page.request.full_path,
        data={"csrf_token": csrf_from(page.get_data(as_text=True)), "decision": "cancel"},
    )
    query = query_of(denied.location)
    assert query["error"] == "access_denied"
    assert query["state"] == "state-123"
    assert query["iss"] == "http://127.0.0.1:5000"
    assert code_count(app) == 0


def test_consent_post_without_csrf_token_issues_nothing(
    app: Flask, signed_in: FlaskClient, rp: RP
) -> None:
    page = signed_in.get("/oauth/authorize", query_string=authorize_params(rp, pkce_pair()[1]))
    response = signed_in.post(page.request.full_path, data={"decision": "allow"})
    assert response.status_code == 400
    assert "This page has expired" in response.get_data(as_text=True)
    assert code_count(app) == 0


def test_acr_values_above_the_session_redirect_to_step_up(
    app: Flask, signed_in: FlaskClient, rp: RP
) -> None:
    params = authorize_params(rp, pkce_pair()[1], acr_values=f"{ACR_MFA} {ACR_CARD_PIN}")
    response = signed_in.get("/oauth/authorize", query_string=params)
    assert response.status_code == 302
    location = urlsplit(response.location)
    assert location.path == "/sign-in/step-up"
    query = parse_qs(location.query)
    assert query["acr"] == [ACR_MFA]
    assert query["next"][0].startswith("/oauth/authorize?")
    assert "acr_values" in query["next"][0]
    assert code_count(app) == 0


def test_stronger_session_satisfies_acr_values_and_id_token_says_so(
    app: Flask, client: FlaskClient, rp: RP, resident: Resident
) -> None:
    sign_in_client(app, client, resident, AMR_CARD_PIN)
    claims = id_token_claims(client, rp, acr_values=ACR_MFA)
    assert claims["acr"] == ACR_CARD_PIN
    assert claims["amr"] == AMR_CARD_PIN


def test_prompt_login_ends_the_session_and_returns_without_prompt_login(
    app: Flask, client: FlaskClient, rp: RP, resident: Resident
) -> None:
    record = sign_in_client(app, client, resident, AMR_PASSWORD_OTP)
    params = authorize_params(rp, pkce_pair()[1], prompt="login consent")
    response = client.get("/oauth/authorize", query_string=params)
    location = urlsplit(response.location)
    assert location.path == "/sign-in"
    next_query = parse_qs(urlsplit(parse_qs(location.query)["next"][0]).query)
    assert next_query["prompt"] == ["consent"]
    with app.app_context():
        assert db_session.get(ResidentSession, record.id).ended_at is not None


def test_max_age_older_than_sign_in_forces_sign_in(
    app: Flask, client: FlaskClient, rp: RP, resident: Resident
) -> None:
    from datetime import timedelta

    record = sign_in_client(app, client, resident)
    with app.app_context():
        row = db_session.get(ResidentSession, record.id)
        row.auth_time = row.auth_time - timedelta(minutes=30)
        db_session.commit()
    params = authorize_params(rp, pkce_pair()[1], max_age="600")
    response = client.get("/oauth/authorize", query_string=params)
    location = urlsplit(response.location)
    assert location.path == "/sign-in"
    assert "max_age" not in parse_qs(urlsplit(parse_qs(location.query)["next"][0]).query)
    # A recent enough sign-in is fine.
    sign_in_client(app, client, resident)
    assert get_code(client, rp, pkce_pair()[1], max_age="600")["code"]


def test_unregistered_redirect_uri_shows_an_error_page_and_never_redirects(
    app: Flask, signed_in: FlaskClient, rp: RP
) -> None:
    params = authorize_params(rp, pkce_pair()[1], redirect_uri="https://evil.example/callback")
    response = signed_in.get("/oauth/authorize", query_string=params)
    assert response.status_code == 400
    assert "Location" not in response.headers
    html = response.get_data(as_text=True)
    assert "There is a problem with the link to sign in" in html
    assert "invalid_request" in html
    assert code_count(app) == 0


def test_unknown_client_is_an_error_page(app: Flask, signed_in: FlaskClient, rp: RP) -> None:
    params = authorize_params(rp, pkce_pair()[1], client_id="no-such-client")
    response = signed_in.get("/oauth/authorize", query_string=params)
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "invalid_client" in response.get_data(as_text=True)


def test_unknown_and_unregistered_scopes_are_invalid_scope(
    app: Flask, signed_in: FlaskClient
) -> None:
    narrow = make_rp(app, scope="openid email")
    for scope in ("openid email wizardry", "openid profile"):
        params = authorize_params(narrow, pkce_pair()[1], scope=scope)
        response = signed_in.get("/oauth/authorize", query_string=params)
        assert query_of(response.location)["error"] == "invalid_scope", scope
    assert code_count(app) == 0


def test_plain_pkce_is_refused(app: Flask, signed_in: FlaskClient, rp: RP) -> None:
    verifier = "a" * 43
    params = authorize_params(rp, None, code_challenge=verifier, code_challenge_method="plain")
    query = query_of(signed_in.get("/oauth/authorize", query_string=params).location)
    assert query["error"] == "invalid_request"
    params = authorize_params(rp, None, code_challenge=pkce_pair()[1])  # method omitted
    query = query_of(signed_in.get("/oauth/authorize", query_string=params).location)
    assert query["error"] == "invalid_request"
    assert code_count(app) == 0


def test_public_client_must_use_pkce_and_then_gets_tokens(
    app: Flask, signed_in: FlaskClient
) -> None:
    public = make_rp(app, public=True, name="Kent Libraries app")
    assert public.client_secret is None
    params = authorize_params(public, None)
    query = query_of(signed_in.get("/oauth/authorize", query_string=params).location)
    assert query["error"] == "invalid_request"
    verifier, challenge = pkce_pair()
    code = get_code(signed_in, public, challenge)["code"]
    response = exchange(signed_in, public, code, verifier)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["id_token"]


def test_birthdate_only_when_asked_for_explicitly(
    app: Flask, signed_in: FlaskClient, rp: RP
) -> None:
    assert "birthdate" not in id_token_claims(signed_in, rp, scope="openid profile")
    by_scope = id_token_claims(signed_in, rp, scope="openid birthdate")
    assert by_scope["birthdate"] == "1956-12-10"
    claims_param = json.dumps({"userinfo": {"birthdate": {"essential": True}}})
    by_claims = id_token_claims(signed_in, rp, scope="openid", claims=claims_param)
    assert by_claims["birthdate"] == "1956-12-10"
    # A client not registered for birthdate does not get it through the claims parameter.
    other = make_rp(app, name="Leisure centre", scope="openid profile")
    assert "birthdate" not in id_token_claims(signed_in, other, scope="openid", claims=claims_param)


def test_pairwise_subjects_differ_between_sectors_and_are_stable(
    app: Flask, signed_in: FlaskClient, rp: RP
) -> None:
    same_sector = make_rp(
        app, name="Library events", redirect_uris=["https://library.example.org/events/cb"]
    )
    buses = make_rp(app, name="Buses", redirect_uris=["https://buses.example.com/cb"])
    explicit = make_rp(
        app,
        name="Libraries partner",
        redirect_uris=["https://partner.example.net/cb"],
        sector="library.example.org",
    )
    first = id_token_claims(signed_in, rp)["sub"]
    assert id_token_claims(signed_in, rp)["sub"] == first
    assert id_token_claims(signed_in, same_sector)["sub"] == first
    assert id_token_claims(signed_in, explicit)["sub"] == first
    assert id_token_claims(signed_in, buses)["sub"] != first
