"""Request objects and response modes this provider does not support are refused, not
ignored (OpenID Connect Core 1.0 sections 3.1.2.6 and 6; OAuth 2.0 Multiple Response
Types section 2.1), and discovery says so."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from idservice.db import db_session
from idservice.models.oauth import AuthorizationCode
from tests.oauth.conftest import RP, authorize_params, get_code, pkce_pair, query_of

#: A request object, as a service would send it (its content does not matter here).
REQUEST_OBJECT = "eyJhbGciOiJub25lIn0.eyJzY29wZSI6Im9wZW5pZCJ9."


def code_count(app: Flask) -> int:
    with app.app_context():
        return int(db_session.scalar(select(func.count()).select_from(AuthorizationCode)) or 0)


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ({"request": REQUEST_OBJECT}, "request_not_supported"),
        ({"request_uri": "https://library.example.org/request.jwt"}, "request_uri_not_supported"),
        ({"request_uri": "urn:ietf:params:oauth:request_uri:abc"}, "request_uri_not_supported"),
        ({"response_mode": "fragment"}, "invalid_request"),
        ({"response_mode": "form_post"}, "invalid_request"),
        ({"response_mode": "query.jwt"}, "invalid_request"),
    ],
)
def test_unsupported_parameters_are_refused_back_to_the_service(
    app: Flask, signed_in: FlaskClient, rp: RP, extra: dict[str, str], error: str
) -> None:
    _verifier, challenge = pkce_pair()
    params = authorize_params(rp, challenge, **extra)
    response = signed_in.get("/oauth/authorize", query_string=params)
    assert response.status_code == 302
    assert response.location.startswith(rp.redirect_uri + "?")
    answer = query_of(response.location)
    assert answer["error"] == error
    assert answer["state"] == "state-123"
    assert answer["iss"] == app.config["KENTCARD"].issuer
    assert "code" not in answer
    assert code_count(app) == 0


def test_unsupported_parameters_are_refused_before_sign_in(
    app: Flask, client: FlaskClient, rp: RP
) -> None:
    """No sign-in page for a request that can only fail."""
    params = authorize_params(rp, pkce_pair()[1], request=REQUEST_OBJECT)
    response = client.get("/oauth/authorize", query_string=params)
    assert response.status_code == 302
    assert query_of(response.location)["error"] == "request_not_supported"


def test_response_mode_query_is_accepted(app: Flask, signed_in: FlaskClient, rp: RP) -> None:
    answer = get_code(signed_in, rp, pkce_pair()[1], response_mode="query")
    assert "code" in answer


def test_unsupported_parameters_with_a_bad_redirect_uri_are_not_redirected(
    client: FlaskClient, rp: RP
) -> None:
    params = authorize_params(rp, pkce_pair()[1], request=REQUEST_OBJECT)
    params["redirect_uri"] = "https://attacker.example/"
    response = client.get("/oauth/authorize", query_string=params)
    assert response.status_code == 400


def test_discovery_says_what_is_not_supported(client: FlaskClient) -> None:
    metadata = client.get("/.well-known/openid-configuration").get_json()
    assert metadata["request_parameter_supported"] is False
    assert metadata["request_uri_parameter_supported"] is False
    assert metadata["response_modes_supported"] == ["query"]
