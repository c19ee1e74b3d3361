"""The lean WSGI token path (idservice/oauth/lean.py) answers exactly as the Flask view does.

Every request here is sent twice, once through the app as deployed (lean path in front)
and once straight to Flask (the lean path taken out), and the two answers must agree:
status, headers in order, and body (for tokens: every claim but ``jti``, ``iat``, ``exp``).
Other tests check which path took a request, and that odd requests reach Flask intact.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import logging
import sys
from contextlib import AbstractContextManager
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select
from werkzeug.middleware.proxy_fix import ProxyFix

from idservice import create_app
from idservice.config import Settings
from idservice.db import db_session
from idservice.headers import HSTS
from idservice.models.oauth import OAuthToken
from idservice.oauth import lean, tokens
from tests import lean_paths
from tests.conftest import _APPS
from tests.oauth.conftest import RP, jwks_of, make_rp

FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def service(app: Flask) -> RP:
    return make_rp(
        app,
        name="Stagecoach South East",
        redirect_uris=[],
        grant_types=["client_credentials"],
        scope="entitlements:read cards:read",
    )


def middleware(app: Flask) -> lean.LeanTokenEndpoint:
    return lean_paths.middleware(app, lean.LeanTokenEndpoint)


def flask_only(app: Flask) -> AbstractContextManager[None]:
    """Take the lean path out for a moment: requests go straight to the Flask views."""
    return lean_paths.without(app, lean.LeanTokenEndpoint)


def flask_must_not_see(app: Flask) -> AbstractContextManager[list[str]]:
    """Record requests that reach Flask: the lean path must answer them alone."""
    return lean_paths.flask_must_not_see(app, lean.LeanTokenEndpoint)


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = f"{client_id}:{secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def comparable(client: FlaskClient, response: Any) -> dict[str, Any]:
    """Status, headers and body, with the per-token random and time parts taken out."""
    body = response.get_data()
    try:
        data = json.loads(body)
    except ValueError:
        data = body
    if isinstance(data, dict) and "access_token" in data:
        token = data.pop("access_token")
        decoded = jwt.decode(token, KeySet.import_key_set(jwks_of(client)))
        claims = dict(decoded.claims)
        assert claims["exp"] - claims["iat"] == data["expires_in"]
        for name in ("jti", "iat", "exp"):
            claims.pop(name)
        data["header"] = decoded.header
        data["claims"] = claims
    headers = [(k, v) for k, v in response.headers.items() if k != "Content-Length"]
    return {"status": response.status, "headers": headers, "body": data}


def both(app: Flask, client: FlaskClient, **request: Any) -> dict[str, Any]:
    """Send one request through each path; they must answer the same. Returns the answer."""
    method = request.pop("method", "POST")
    path = request.pop("path", "/oauth/token")
    lean_answer = comparable(client, client.open(path, method=method, **request))
    with flask_only(app):
        flask_answer = comparable(client, client.open(path, method=method, **request))
    assert lean_answer == flask_answer
    return lean_answer


def token_request(service: RP, **data: str) -> dict[str, Any]:
    form = {"grant_type": "client_credentials", "scope": "cards:read", **data}
    return {"data": form, "headers": service.basic}


# -- the two paths agree ------------------------------------------------------------------


def test_a_token_is_the_same_by_either_path(app: Flask, client: FlaskClient, service: RP) -> None:
    with flask_must_not_see(app) as seen:
        client.post("/oauth/token", **token_request(service))
    assert seen == []
    answer = both(app, client, **token_request(service, scope="entitlements:read cards:read"))
    assert answer["status"] == "200 OK"
    assert answer["headers"] == [
        ("Content-Type", "application/json"),
        ("Cache-Control", "no-store"),
        ("Pragma", "no-cache"),
        ("X-Content-Type-Options", "nosniff"),
    ]
    body = answer["body"]
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 600
    assert body["scope"] == "entitlements:read cards:read"
    assert body["header"]["typ"] == "at+jwt"
    assert body["header"]["alg"] == "ES256"
    assert body["claims"] == {
        "iss": "http://127.0.0.1:5000",
        "aud": "http://127.0.0.1:5000",
        "client_id": service.client_id,
        "sub": service.client_id,
        "scope": "entitlements:read cards:read",
    }


def test_client_secret_post_is_the_same_by_either_path(
    app: Flask, client: FlaskClient, service: RP
) -> None:
    data = {
        "grant_type": "client_credentials",
        "scope": "cards:read",
        "client_id": service.client_id,
        "client_secret": service.client_secret or "",
    }
    with flask_must_not_see(app) as seen:
        assert client.post("/oauth/token", data=data).status_code == 200
    assert seen == []
    assert both(app, client, data=data)["status"] == "200 OK"


@pytest.mark.parametrize(
    ("case", "status", "error"),
    [
        ("unknown client", 401, "invalid_client"),
        ("wrong secret", 401, "invalid_client"),
        ("no credentials", 401, "invalid_client"),
        ("unknown scope", 400, "invalid_scope"),
        ("no scope", 400, "invalid_scope"),
        ("scope not registered", 400, "invalid_scope"),
        ("resident scope", 400, "invalid_scope"),
        ("grant not allowed", 400, "unauthorized_client"),
        ("public client", 401, "invalid_client"),
    ],
)
def test_errors_are_the_same_by_either_path(
    app: Flask, client: FlaskClient, service: RP, case: str, status: int, error: str
) -> None:
    rp = make_rp(app)  # a relying party: authorization code only
    public = make_rp(app, name="Kent app", public=True, scope="openid profile")
    secret = service.client_secret or ""
    request: dict[str, Any] = {
        "unknown client": {
            "data": {"grant_type": "client_credentials", "scope": "cards:read"},
            "headers": basic("no-such-client", secret),
        },
        "wrong secret": {
            "data": {"grant_type": "client_credentials", "scope": "cards:read"},
            "headers": basic(service.client_id, secret + "x"),
        },
        "no credentials": {"data": {"grant_type": "client_credentials", "scope": "cards:read"}},
        "unknown scope": token_request(service, scope="cards:read everything"),
        "no scope": {"data": {"grant_type": "client_credentials"}, "headers": service.basic},
        "scope not registered": token_request(service, scope="cards:write"),
        "resident scope": token_request(service, scope="openid profile"),
        "grant not allowed": {
            "data": {"grant_type": "client_credentials", "scope": "openid"},
            "headers": rp.basic,
        },
        "public client": {
            "data": {
                "grant_type": "client_credentials",
                "scope": "openid",
                "client_id": public.client_id,
            }
        },
    }[case]
    with flask_must_not_see(app) as seen:
        client.post("/oauth/token", **request)
    assert seen == [], "client_credentials errors are answered by the lean path"
    answer = both(app, client, **request)
    assert answer["status"].startswith(str(status))
    assert answer["body"]["error"] == error
    assert ("Cache-Control", "no-store") in answer["headers"]
    assert ("X-Content-Type-Options", "nosniff") in answer["headers"]
    if status == 401 and case != "public client":
        assert any(name == "WWW-Authenticate" for name, _ in answer["headers"])
    assert token_count_of(app) == 0


def token_count_of(app: Flask) -> int:
    with app.app_context():
        return len(db_session.scalars(select(OAuthToken)).all())


@pytest.mark.parametrize(
    ("case", "request_args"),
    [
        ("unsupported grant", {"data": {"grant_type": "password", "username": "a"}}),
        ("no grant", {"data": {"scope": "cards:read"}}),
        ("query string", {"data": {"grant_type": "client_credentials"}, "query_string": "a=1"}),
        ("JSON body", {"json": {"grant_type": "client_credentials", "scope": "cards:read"}}),
        ("GET", {"method": "GET", "query_string": "grant_type=client_credentials"}),
        ("not UTF-8", {"data": b"grant_type=client_credentials&scope=\xff", "content_type": FORM}),
        ("too large", {"data": {"grant_type": "client_credentials", "x": "y" * 70_000}}),
        ("repeated grant", {"data": "grant_type=password&grant_type=client_credentials"}),
        ("other endpoint", {"path": "/oauth/revoke", "data": {"token": "x"}}),
    ],
)
def test_other_requests_go_to_flask_and_get_the_same_answer(
    app: Flask, client: FlaskClient, service: RP, case: str, request_args: dict[str, Any]
) -> None:
    request = dict(request_args)
    request.setdefault("headers", service.basic)
    if case == "repeated grant":
        request["content_type"] = FORM
    path = request.pop("path", "/oauth/token")
    method = request.pop("method", "POST")
    with flask_must_not_see(app) as seen:
        client.open(path, method=method, **request)
    assert seen == [path], f"{case}: Flask answers this one"
    answer = both(app, client, path=path, method=method, **request)
    assert not answer["status"].startswith("200") or case == "other endpoint"


def test_the_first_grant_type_decides_as_in_werkzeug(
    app: Flask, client: FlaskClient, service: RP
) -> None:
    body = "grant_type=client_credentials&grant_type=password&scope=cards%3Aread"
    with flask_must_not_see(app) as seen:
        response = client.post("/oauth/token", data=body, content_type=FORM, headers=service.basic)
    assert seen == []
    assert response.status_code == 200
    answer = both(app, client, data=body, content_type=FORM, headers=service.basic)
    assert answer["status"] == "200 OK"


def test_hsts_is_sent_when_cookies_are_secure(
    app: Flask, client: FlaskClient, service: RP, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(app.config, "SESSION_COOKIE_SECURE", True)
    monkeypatch.setattr(middleware(app).server, "_hsts", True)
    answer = both(app, client, **token_request(service))
    assert ("Strict-Transport-Security", HSTS) in answer["headers"]


# -- failures -------------------------------------------------------------------------------


def test_an_unexpected_error_is_the_apps_json_500_and_is_logged(
    app: Flask,
    client: FlaskClient,
    service: RP,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(*_args: Any, **_kwargs: Any) -> str:
        raise RuntimeError("signing failed")

    monkeypatch.setattr(tokens, "sign_es256", broken)
    with caplog.at_level(logging.ERROR):
        answer = both(app, client, **token_request(service))
    assert answer["status"] == "500 INTERNAL SERVER ERROR"
    assert answer["body"] == {
        "error": "server_error",
        "error_description": "Sorry, there is a problem with the service",
    }
    assert ("X-Content-Type-Options", "nosniff") in answer["headers"]
    logged = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(logged) == 2  # one per path
    assert service.client_secret not in caplog.text  # secrets are never logged
    assert token_count_of(app) == 0


def test_plain_http_to_another_host_is_refused_by_both_paths(
    app: Flask, client: FlaskClient, service: RP, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Authlib's transport check: TLS, or http only on loopback."""
    monkeypatch.delenv("AUTHLIB_INSECURE_TRANSPORT", raising=False)
    answer = both(app, client, base_url="http://partner.example.org", **token_request(service))
    # An OAuth error naming the problem (it was a 500 before), the same on both paths.
    assert answer["status"].startswith("400")
    assert answer["body"]["error_description"] == "OAuth requests must use HTTPS"
    secure = both(app, client, base_url="https://partner.example.org", **token_request(service))
    assert secure["status"] == "200 OK"
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")
    assert both(app, client, base_url="http://partner.example.org", **token_request(service))[
        "status"
    ] == ("200 OK")


# -- as a server such as granian calls it ------------------------------------------------------


def wsgi_call(app: Flask, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
    captured: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], _exc: Any = None) -> None:
        captured["status"], captured["headers"] = status, headers

    body = b"".join(app.wsgi_app(environ, start_response))
    return captured["status"], captured["headers"], body


def environ_for(body: bytes, service: RP, *, terminated: bool, length: int | None = None) -> dict:
    auth = service.basic["Authorization"]
    environ = {
        "REQUEST_METHOD": "POST",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/oauth/token",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "5000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1:5000",
        "HTTP_AUTHORIZATION": auth,
        "CONTENT_TYPE": FORM,
        "CONTENT_LENGTH": str(len(body) if length is None else length),
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if terminated:
        environ["wsgi.input_terminated"] = True
    return environ


@pytest.mark.parametrize("terminated", [False, True])
def test_a_server_that_terminates_the_input_is_served_by_the_lean_path(
    app: Flask, service: RP, terminated: bool
) -> None:
    body = b"grant_type=client_credentials&scope=cards%3Aread"
    with flask_must_not_see(app) as seen:
        status, headers, out = wsgi_call(app, environ_for(body, service, terminated=terminated))
    assert seen == []
    assert status == "200 OK"
    assert ("Content-Length", str(len(out))) in headers
    assert json.loads(out)["token_type"] == "Bearer"


def test_a_body_shorter_than_its_length_goes_to_flask_unchanged(app: Flask, service: RP) -> None:
    body = b"grant_type=client_credentials&scope=cards%3Aread"
    environ = environ_for(body, service, terminated=True, length=len(body) + 5)
    with flask_must_not_see(app) as seen:
        status, _headers, out = wsgi_call(app, environ)
    assert seen == ["/oauth/token"]
    # Flask read the same bytes the lean path had read: with a terminated input it
    # ignores the length and parses what came, so the token is issued.
    assert status == "200 OK", out


def test_a_lean_token_can_be_revoked_and_is_then_inactive(
    app: Flask, client: FlaskClient, service: RP
) -> None:
    with flask_must_not_see(app) as seen:
        token = client.post("/oauth/token", **token_request(service)).get_json()["access_token"]
    assert seen == []
    info = client.post("/oauth/introspect", data={"token": token}, headers=service.basic)
    assert info.get_json()["active"] is True
    revoked = client.post("/oauth/revoke", data={"token": token}, headers=service.basic)
    assert revoked.status_code == 200
    info = client.post("/oauth/introspect", data={"token": token}, headers=service.basic)
    assert info.get_json() == {"active": False}


def test_the_lean_request_has_every_attribute_of_authlibs(app: Flask) -> None:
    """The lean request sets Authlib's attributes itself (to check the transport once per
    host); an Authlib upgrade that adds one must show up here, not as a 500."""
    from authlib.oauth2.rfc6749 import OAuth2Request
    from werkzeug.datastructures import MultiDict

    body = b"grant_type=client_credentials"
    base = OAuth2Request("POST", "http://127.0.0.1:5000/oauth/token", headers={})
    environ = environ_for(body, RP("x", "y", ""), terminated=False)
    mine = lean.LeanOAuth2Request(environ, MultiDict([("grant_type", "client_credentials")]))
    assert set(vars(base)) <= set(vars(mine))
    assert mine.uri == "http://127.0.0.1:5000/oauth/token"
    assert mine.payload.grant_type == "client_credentials"
    assert mine.payload.datalist == {"grant_type": ["client_credentials"]}
    assert mine.headers.get("authorization") == RP("x", "y", "").basic["Authorization"]


def test_behind_a_trusted_proxy_the_forwarded_scheme_counts(
    app: Flask, settings: Settings, service: RP, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Granian does not read X-Forwarded-* itself: KENTCARD_PROXY_HOPS puts ProxyFix first."""
    monkeypatch.delenv("AUTHLIB_INSECURE_TRANSPORT", raising=False)
    proxied = create_app(dataclasses.replace(settings, proxy_hops=1))
    _APPS.append(proxied)
    assert isinstance(proxied.wsgi_app, ProxyFix)
    middleware(proxied)  # behind it
    client = proxied.test_client()
    request = token_request(service)
    outside = "http://account.example.org"
    forwarded = {**request["headers"], "X-Forwarded-Proto": "https"}
    ok = client.post("/oauth/token", base_url=outside, data=request["data"], headers=forwarded)
    assert ok.status_code == 200
    plain = client.post("/oauth/token", base_url=outside, **request)
    # Plain http from outside: Authlib's transport check, answered as an OAuth error (it
    # was a 500 before).
    assert plain.status_code == 400
    assert plain.get_json() == {
        "error": "invalid_request",
        "error_description": "OAuth requests must use HTTPS",
    }
    # Without the setting the header is ignored.
    ignored = app.test_client().post(
        "/oauth/token", base_url=outside, data=request["data"], headers=forwarded
    )
    assert ignored.status_code == 400
    assert ignored.get_json()["error"] == "invalid_request"


def test_the_lean_request_does_not_walk_the_environ() -> None:
    """Authlib's constructor tests ``headers or {}``: given EnvironHeaders, that counted
    every header of the environ on each token request (a fifth of the CPU of the path)."""
    from werkzeug.datastructures import MultiDict

    class Walked(dict[str, Any]):
        walks = 0

        def items(self) -> Any:
            Walked.walks += 1
            return super().items()

        def __iter__(self) -> Any:
            Walked.walks += 1
            return super().__iter__()

    environ = Walked(
        environ_for(b"grant_type=client_credentials", RP("x", "y", ""), terminated=False)
    )
    request = lean.LeanOAuth2Request(environ, MultiDict([("grant_type", "client_credentials")]))
    assert Walked.walks == 0
    assert request.headers.get("authorization") == RP("x", "y", "").basic["Authorization"]
