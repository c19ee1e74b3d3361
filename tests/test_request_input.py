"""Request input that used to reach a 500 (idservice/request_input.py).

Each finding is sent through the app as deployed (the lean WSGI paths in front) and, where
a lean path answers that request, straight to the Flask view too: the answer is the API's
documented error, never a 500. The decoders are tested from tables in
tests/test_request_input_tables.py.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from idservice.cards.lean import LeanTapEndpoint
from idservice.oauth.lean import LeanTokenEndpoint
from idservice.partner_api.lean import LeanCheckEndpoint
from tests import lean_paths
from tests.accounts.conftest import csrf_from, in_app
from tests.factories import DEFAULT_PASSWORD, create_resident
from tests.oauth.conftest import RP, make_rp
from tests.partner_api.conftest import LIBRARY, make_partner, service_token

#: JSON nested 1,000 deep in 2 KB, as the attack run sent it.
DEEP = b"[" * 1000 + b"]" * 1000

# -- Basic credentials at the OAuth endpoints ----------------------------------------

MALFORMED_BASIC = {
    "not UTF-8": "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),
    "not base64": "Basic !!!not-base64",
    "Latin-1 characters": "Basic \xe9\xe9\xe9\xe9",
    "no colon": "Basic " + base64.b64encode(b"client-without-secret").decode(),
    "empty client id": "Basic " + base64.b64encode(b":secret").decode(),
    "nothing after Basic": "Basic ",
}


@pytest.fixture
def service(app: Flask) -> RP:
    return make_rp(
        app, name="Gate 9", redirect_uris=[], grant_types=["client_credentials"], scope="taps:write"
    )


def assert_invalid_client(response: TestResponse) -> None:
    assert response.status_code == 401, response.get_data(as_text=True)
    body = response.get_json()
    assert body["error"] == "invalid_client"
    assert body["error_description"].startswith("The Basic credentials")
    assert response.headers["WWW-Authenticate"].startswith('Basic error="invalid_client"')


@pytest.mark.parametrize("header", MALFORMED_BASIC.values(), ids=MALFORMED_BASIC.keys())
@pytest.mark.parametrize("lean", [True, False], ids=["lean path", "flask view"])
def test_malformed_basic_credentials_at_the_token_endpoint_are_invalid_client(
    app: Flask, client: FlaskClient, service: RP, header: str, lean: bool
) -> None:
    """client_credentials is answered by the lean path; without it, by the Flask view."""
    path: AbstractContextManager[Any] = (
        lean_paths.flask_must_not_see(app, LeanTokenEndpoint)
        if lean
        else lean_paths.without(app, LeanTokenEndpoint)
    )
    with path as seen:
        response = client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": header},
        )
    assert_invalid_client(response)
    if lean:
        assert seen == []


@pytest.mark.parametrize("header", MALFORMED_BASIC.values(), ids=MALFORMED_BASIC.keys())
@pytest.mark.parametrize("endpoint", ["/oauth/introspect", "/oauth/revoke"])
def test_malformed_basic_credentials_at_introspection_and_revocation_are_invalid_client(
    client: FlaskClient, service: RP, header: str, endpoint: str
) -> None:
    response = client.post(endpoint, data={"token": "x"}, headers={"Authorization": header})
    assert_invalid_client(response)


def test_a_code_exchange_with_malformed_basic_credentials_is_invalid_client(
    client: FlaskClient, service: RP
) -> None:
    response = client.post(
        "/oauth/token",
        data={"grant_type": "authorization_code", "code": "x", "redirect_uri": "https://x/"},
        headers={"Authorization": MALFORMED_BASIC["not UTF-8"]},
    )
    assert_invalid_client(response)


def test_good_basic_credentials_still_work(client: FlaskClient, service: RP) -> None:
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "taps:write"},
        headers=service.basic,
    )
    assert response.status_code == 200, response.get_json()
    token = response.get_json()["access_token"]
    introspected = client.post("/oauth/introspect", data={"token": token}, headers=service.basic)
    assert introspected.get_json()["active"] is True


# -- JSON nested deep or too large -------------------------------------------------


@pytest.fixture
def partner_headers(app: Flask, client: FlaskClient) -> dict[str, str]:
    partner = make_partner(app, "Kent Libraries", LIBRARY, "libraries.example")
    return service_token(client, partner.rp, LIBRARY)


@pytest.fixture
def reader_headers(app: Flask, client: FlaskClient) -> dict[str, str]:
    reader = make_rp(
        app, name="Gate 3", redirect_uris=[], grant_types=["client_credentials"], scope="taps:write"
    )
    return service_token(client, reader, "taps:write")


TOO_LARGE = json.dumps({"card_number": "1" * 40_000}).encode()
NESTED_IN_A_FIELD = b'{"card_number": ' + DEEP + b"}"


def api_post(client: FlaskClient, path: str, body: bytes, headers: dict[str, str]) -> Any:
    return client.post(path, data=body, headers={**headers, "Content-Type": "application/json"})


def assert_api_400(response: TestResponse, words: str) -> None:
    assert response.status_code == 400, response.get_data(as_text=True)
    body = response.get_json()
    assert body["error"] == "invalid_request"
    assert words in body["message"]


LEAN_OR_VIEW = pytest.mark.parametrize("lean", [True, False], ids=["lean path", "flask view"])


def lean_or_view(app: Flask, kind: type[Any], lean: bool) -> AbstractContextManager[Any]:
    return nullcontext() if lean else lean_paths.without(app, kind)


@LEAN_OR_VIEW
@pytest.mark.parametrize(
    ("body", "words"),
    [(DEEP, "nested"), (NESTED_IN_A_FIELD, "nested"), (TOO_LARGE, "bytes or fewer")],
    ids=["deep", "deep in a field", "too large"],
)
def test_partner_checks_refuse_deep_or_large_json_with_the_api_error(
    app: Flask,
    client: FlaskClient,
    partner_headers: dict[str, str],
    body: bytes,
    words: str,
    lean: bool,
) -> None:
    with lean_or_view(app, LeanCheckEndpoint, lean):
        response = api_post(client, "/api/v1/checks/library/by-card-number", body, partner_headers)
    assert_api_400(response, words)
    assert response.headers["Cache-Control"] == "no-store"


@LEAN_OR_VIEW
@pytest.mark.parametrize(
    ("body", "words"),
    [(DEEP, "nested"), (b'{"mode": ' + DEEP + b"}", "nested"), (TOO_LARGE, "bytes or fewer")],
    ids=["deep", "deep in a field", "too large"],
)
def test_taps_refuse_deep_or_large_json_with_the_api_error(
    app: Flask,
    client: FlaskClient,
    reader_headers: dict[str, str],
    body: bytes,
    words: str,
    lean: bool,
) -> None:
    with lean_or_view(app, LeanTapEndpoint, lean):
        response = api_post(client, "/api/v1/taps", body, reader_headers)
    assert_api_400(response, words)


def test_partner_checks_still_authenticate_before_reading_the_body(client: FlaskClient) -> None:
    """No token: 401, whatever the body (the API says nothing else to strangers)."""
    response = api_post(client, "/api/v1/checks/library/by-card-number", DEEP, {})
    assert response.status_code == 401


def test_a_deep_json_body_at_the_passkey_sign_in_is_a_400_in_its_json_shape(
    client: FlaskClient,
) -> None:
    token = csrf_from(client.get("/sign-in"))
    response = client.post(
        "/sign-in/passkey/verify",
        data=DEEP,
        headers={"X-CSRF-Token": token, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert "nested" in response.get_json()["error"]


def test_a_body_over_the_request_limit_is_413(
    client: FlaskClient, partner_headers: dict[str, str]
) -> None:
    body = json.dumps({"card_number": "1" * 70_000}).encode()
    response = api_post(client, "/api/v1/checks/library/by-card-number", body, partner_headers)
    assert response.status_code == 413
    assert set(response.get_json()) == {"error", "message"}


def test_a_bearer_token_with_a_deep_header_is_an_invalid_token(client: FlaskClient) -> None:
    header = base64.urlsafe_b64encode(b"[" * 1400 + b"]" * 1400).rstrip(b"=").decode()
    token = f"{header}.e30.c2ln"
    for path in ("/api/v1/me/entitlements", "/oauth/userinfo"):
        response = client.get(path, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, (path, response.status_code)


def test_a_deep_claims_parameter_is_an_invalid_request(app: Flask, client: FlaskClient) -> None:
    rp = make_rp(app)
    with in_app(app):
        resident = create_resident()
    from tests.factories import sign_in_client

    sign_in_client(app, client, resident)
    response = client.get(
        "/oauth/authorize",
        query_string={
            "response_type": "code",
            "client_id": rp.client_id,
            "redirect_uri": rp.redirect_uri,
            "scope": "openid",
            "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "code_challenge_method": "S256",
            "claims": DEEP.decode(),
        },
    )
    assert response.status_code == 302
    assert "error=invalid_request" in response.location


# -- next after signing in ----------------------------------------------------------


@pytest.fixture
def email(app: Flask) -> Iterator[str]:
    with in_app(app):
        yield create_resident().email


@pytest.mark.parametrize(
    "next_value",
    [
        "/account%0d%0aSet-Cookie:%20stolen=1",
        "/account%0aLocation:%20https://evil.example",
        "/account%07",
        "//evil.example",
        "/%5Cevil.example",
        "https://evil.example/",
        "//[evil",
    ],
)
def test_next_after_a_correct_password_is_never_an_injected_header(
    client: FlaskClient, email: str, next_value: str
) -> None:
    token = csrf_from(client.get("/sign-in"))
    response = client.post(
        f"/sign-in?next={next_value}",
        data={"email": email, "password": DEFAULT_PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 302, response.status_code
    assert response.headers["Location"] == "/account"
    assert "stolen" not in response.headers.get("Set-Cookie", "")


def test_next_outside_ascii_is_percent_encoded(client: FlaskClient, email: str) -> None:
    token = csrf_from(client.get("/sign-in"))
    response = client.post(
        "/sign-in?next=/account/services?q%3DZo%C3%AB",
        data={"email": email, "password": DEFAULT_PASSWORD, "csrf_token": token},
    )
    assert response.headers["Location"] == "/account/services?q=Zo%C3%AB"


def test_a_csrf_token_outside_ascii_is_wrong_not_an_error(client: FlaskClient) -> None:
    client.get("/sign-in")
    response = client.post(
        "/sign-in", data={"email": "a@example.com", "password": "x", "csrf_token": "\u00e9t\u00e9"}
    )
    assert response.status_code == 400
    assert b"This page has expired" in response.data


# -- Query strings and OAuth parameters found by tests/test_fuzz_routes.py ----------


@pytest.mark.parametrize("path", ["/sign-in", "/oauth/authorize", "/staff/sign-in", "/"])
def test_a_query_string_that_is_not_utf8_is_decoded_not_a_500(
    client: FlaskClient, path: str
) -> None:
    """A server hands raw bytes over as Latin-1; Werkzeug decoded them as strict UTF-8."""
    response = client.get(path, environ_overrides={"QUERY_STRING": "next=/account\xbd\xff&a=\xe9"})
    assert response.status_code < 500


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("response_type", "cod\u00e9"),
        ("response_type", 'code"'),
        ("redirect_uri", "https://library.example.org/callback\u00e9"),
        ("redirect_uri", "https://library.example.org/\\"),
        ("scope", "openid \u00e9t\u00e9"),
    ],
)
def test_oauth_parameters_repeated_in_error_descriptions_are_an_oauth_error(
    app: Flask, client: FlaskClient, name: str, value: str
) -> None:
    """Authlib refused to build an error whose description held them: a 500."""
    rp = make_rp(app)
    params = {
        "response_type": "code",
        "client_id": rp.client_id,
        "redirect_uri": rp.redirect_uri,
        "scope": "openid",
        "state": "s",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "code_challenge_method": "S256",
        name: value,
    }
    response = client.get("/oauth/authorize", query_string=params)
    assert response.status_code in (302, 400), response.status_code
    if response.status_code == 302:
        assert "error=" in response.location


@pytest.mark.parametrize("value", ['client_credentials"', "client_credential\u00e9"])
def test_a_grant_type_with_odd_characters_is_unsupported(
    client: FlaskClient, service: RP, value: str
) -> None:
    response = client.post("/oauth/token", data={"grant_type": value}, headers=service.basic)
    assert response.status_code == 400
    assert response.get_json()["error"] == "unsupported_grant_type"


def test_an_unknown_scope_with_odd_characters_is_invalid_scope(
    client: FlaskClient, service: RP
) -> None:
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": 'taps:write "\u00e9t\u00e9'},
        headers=service.basic,
    )
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "invalid_scope"
    assert "%22%C3%A9t%C3%A9" in body["error_description"]


def test_a_nul_in_a_path_argument_is_not_found(app: Flask) -> None:
    """PostgreSQL refuses NUL in text: a NUL in a resident id reached a query (a 500)."""
    from tests.factories import create_staff, sign_in_staff

    client = app.test_client()
    with in_app(app):
        staff = create_staff()
    sign_in_staff(app, client, staff)
    token = csrf_from(client.get("/staff/search"))
    response = client.post(
        "/staff/residents/a%00b/open",
        data={"channel": "face-to-face", "reason": "At the desk", "csrf_token": token},
    )
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "data"),
    [
        ("GET", "/oauth/authorize?response_type=code&client_id=a%00b&scope=openid", None),
        (
            "POST",
            "/oauth/token",
            {"grant_type": "client_credentials", "client_id": "a\x00b", "client_secret": "s"},
        ),
        ("POST", "/oauth/introspect", {"token": "x", "client_id": "a\x00", "client_secret": "s"}),
        ("POST", "/sign-in?next=/account%00", {"email": "a@example.com"}),
    ],
)
def test_a_nul_in_the_query_or_a_form_is_a_400(
    client: FlaskClient, method: str, path: str, data: dict[str, str] | None
) -> None:
    response = client.open(path, method=method, data=data)
    assert response.status_code == 400, response.status_code
    assert b"NUL" in response.data


def test_a_nul_in_json_is_a_400_in_the_api_shape(
    client: FlaskClient, partner_headers: dict[str, str]
) -> None:
    body = b'{"card_number": "982601\\u00000000000015"}'
    response = api_post(client, "/api/v1/checks/library/by-card-number", body, partner_headers)
    assert_api_400(response, "NUL")
